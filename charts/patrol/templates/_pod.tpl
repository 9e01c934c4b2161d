{{/*
patrol.podTemplate: the Pod template of the CronJob (and of the controller's
Deployment): restricted Pod Security, patrol.yaml from the ConfigMap, the
sign-in Secret's files, /tmp as an emptyDir. Call with (dict "root" $ "args" LIST).
*/}}
{{- define "patrol.podTemplate" -}}
{{- $ := .root }}
{{- $v := $.Values -}}
metadata:
  labels:
    {{- include "patrol.selectorLabels" $ | nindent 4 }}
    {{- if $v.workloadIdentity.enabled }}
    azure.workload.identity/use: "true"
    {{- end }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- $ann := deepCopy ($v.podAnnotations | default dict) }}
  {{- if eq $v.mode "cronjob" }}
  {{- $_ := set $ann "checksum/config" (include "patrol.config" $ | sha256sum) }}
  {{- end }}
  {{- with $ann }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "patrol.serviceAccountName" $ }}
  automountServiceAccountToken: true
  {{- with .restartPolicy }}
  restartPolicy: {{ . }}
  {{- end }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  containers:
    - name: patrol
      image: {{ include "patrol.image" $ | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args: {{ toJson .args }}
      env:
        {{- if eq $v.mode "cronjob" }}
        - name: PATROL_CONFIG
          value: /etc/patrol/patrol.yaml
        {{- else }}
        # The metrics and probe servers bind the Pod's IP only.
        - name: POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        {{- end }}
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: TMPDIR
          value: /tmp
        {{- if and (eq $v.mode "cronjob") (eq $v.auth.method "client-certificate") $v.auth.certificatePasswordKey }}
        - name: AZURE_CLIENT_CERTIFICATE_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ include "patrol.authSecret" $ }}
              key: {{ $v.auth.certificatePasswordKey }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.extraEnvFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .ports }}
      ports:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .probes }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      volumeMounts:
        {{- if eq $v.mode "cronjob" }}
        - name: config
          mountPath: /etc/patrol
          readOnly: true
        {{- end }}
        {{- if include "patrol.authSecretUsed" $ }}
        - name: auth
          mountPath: {{ include "patrol.authDir" $ }}
          readOnly: true
        {{- end }}
        - name: tmp
          mountPath: /tmp
        {{- with $v.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- if eq $v.mode "cronjob" }}
    - name: config
      configMap:
        name: {{ include "patrol.fullname" $ }}-config
    {{- end }}
    {{- if include "patrol.authSecretUsed" $ }}
    - name: auth
      secret:
        secretName: {{ include "patrol.authSecret" $ }}
        defaultMode: 0400
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
    {{- with $v.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
