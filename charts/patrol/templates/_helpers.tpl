{{/* Names */}}
{{- define "patrol.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "patrol.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "patrol.selectorLabels" -}}
app.kubernetes.io/name: {{ include "patrol.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "patrol.labels" -}}
{{ include "patrol.selectorLabels" . }}
app.kubernetes.io/part-of: patrol
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "patrol.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "patrol.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "patrol.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "patrol.authSecret" -}}
{{- default (printf "%s-auth" (include "patrol.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{- define "patrol.tokenCacheSecret" -}}
{{- default (printf "%s-token-cache" (include "patrol.fullname" .)) .Values.auth.tokenCache.secretName }}
{{- end }}

{{- define "patrol.leaseName" -}}
{{- default (printf "%s-rotate" (include "patrol.fullname" .)) .Values.lock.leaseName }}
{{- end }}

{{/* Where the auth Secret's keys are mounted. */}}
{{- define "patrol.authDir" -}}/var/run/secrets/patrol/auth{{- end }}

{{/* Whether the sign-in method reads files of the auth Secret. */}}
{{- define "patrol.authSecretUsed" -}}
{{- if and (eq .Values.mode "cronjob") (has .Values.auth.method (list "ropc" "client-secret" "client-certificate")) }}true{{- end }}
{{- end }}

{{/*
patrol.auth: the `auth:` section of patrol.yaml as JSON, from the sign-in
values. Secrets are referenced by file, never inlined.
*/}}
{{- define "patrol.auth" -}}
{{- $a := .Values.auth }}
{{- $dir := include "patrol.authDir" . }}
{{- $out := dict }}
{{- with $a.tenantId }}{{ $_ := set $out "tenantId" . }}{{ end }}
{{- with $a.clientId }}{{ $_ := set $out "clientId" . }}{{ end }}
{{- with $a.scopes }}{{ $_ := set $out "scopes" . }}{{ end }}
{{- if eq $a.method "ropc" }}
{{- $_ := set $out "method" "ropc" }}
{{- $_ := set $out "username" (required "auth.username (the technical user's UPN) is required for auth.method ropc" $a.username) }}
{{- $_ := set $out "passwordFile" (printf "%s/%s" $dir $a.passwordKey) }}
{{- else if eq $a.method "refresh-token" }}
{{- $_ := set $out "method" "device-code" }}
{{- $_ := set $out "tokenCache" (printf "k8s-secret://%s/%s#%s" .Release.Namespace (include "patrol.tokenCacheSecret" .) $a.tokenCache.key) }}
{{- else if eq $a.method "client-secret" }}
{{- $_ := set $out "method" "client-secret" }}
{{- $_ := set $out "clientSecretFile" (printf "%s/%s" $dir $a.clientSecretKey) }}
{{- else if eq $a.method "client-certificate" }}
{{- $_ := set $out "method" "client-certificate" }}
{{- $_ := set $out "certificatePath" (printf "%s/%s" $dir $a.certificateKey) }}
{{- if $a.sendCertificateChain }}{{ $_ := set $out "sendCertificateChain" true }}{{ end }}
{{- else if eq $a.method "workload-identity" }}
{{- if not .Values.workloadIdentity.enabled }}
{{- fail "auth.method workload-identity needs workloadIdentity.enabled: true (the webhook injects the federated token)" }}
{{- end }}
{{- $_ := set $out "method" "workload-identity" }}
{{- else if eq $a.method "managed-identity" }}
{{- $_ := set $out "method" "managed-identity" }}
{{- with $a.managedIdentityClientId }}{{ $_ := set $out "managedIdentityClientId" . }}{{ end }}
{{- else }}
{{- fail (printf "auth.method %q is not one of ropc, refresh-token, client-secret, client-certificate, workload-identity, managed-identity" $a.method) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
patrol.credentials: .Values.credentials as JSON, with create: false on every
kubernetes-secret sink that does not say otherwise (the chart pre-creates
those Secrets, so patrol needs no create right).
*/}}
{{- define "patrol.credentials" -}}
{{- $creds := deepCopy (.Values.credentials | default list) }}
{{- range $creds }}
{{- range .sinks }}
{{- if and (eq .type "kubernetes-secret") (not (hasKey . "create")) }}
{{- $_ := set . "create" false }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $creds }}
{{- end }}

{{/*
patrol.rbacPlan: what the Kubernetes side of patrol.yaml needs, as JSON:
{"namespaces": {NS: {"secrets": [names], "create": bool, "precreate": [names]}}}
from every kubernetes-secret sink (namespace default: the release's) that
does not talk to another cluster (kubeconfig), plus the refresh-token Secret.
*/}}
{{- define "patrol.rbacPlan" -}}
{{- $root := . }}
{{- $ns := dict }}
{{- $ensure := dict }}
{{- range (include "patrol.credentials" . | fromJsonArray) }}
{{- range .sinks }}
{{- if and (eq .type "kubernetes-secret") (not .kubeconfig) }}
{{- $n := .namespace | default $root.Release.Namespace }}
{{- $e := get $ns $n | default (dict "secrets" list "create" false "precreate" list) }}
{{- $_ := set $e "secrets" (append $e.secrets .name | uniq) }}
{{- if .create }}
{{- $_ := set $e "create" true }}
{{- else }}
{{- $_ := set $e "precreate" (append $e.precreate .name | uniq) }}
{{- end }}
{{- $_ := set $ns $n $e }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq .Values.auth.method "refresh-token" }}
{{- $n := .Release.Namespace }}
{{- $e := get $ns $n | default (dict "secrets" list "create" false "precreate" list) }}
{{- $name := include "patrol.tokenCacheSecret" . }}
{{- $_ := set $e "secrets" (append $e.secrets $name | uniq) }}
{{- $_ := set $e "precreate" (append $e.precreate $name | uniq) }}
{{- $_ := set $ns $n $e }}
{{- end }}
{{- toJson (dict "namespaces" $ns) }}
{{- end }}

{{/* patrol.yaml, rendered from the values. */}}
{{- define "patrol.config" -}}
{{- $gen := dict "apiVersion" "patrol.dev/v1" }}
{{- with .Values.organization }}{{ $_ := set $gen "organization" . }}{{ end }}
{{- $_ := set $gen "auth" (include "patrol.auth" . | fromJson) }}
{{- $_ := set $gen "log" (dict "format" .Values.log.format "level" .Values.log.level) }}
{{- $_ := set $gen "rotation" (dict "lock" (dict "type" "lease" "leaseName" (include "patrol.leaseName" .) "leaseDuration" .Values.lock.leaseDuration)) }}
{{- $_ := set $gen "credentials" (include "patrol.credentials" . | fromJsonArray) }}
{{- $cfg := mustMergeOverwrite (deepCopy (.Values.config | default dict)) $gen }}
{{- toYaml $cfg }}
{{- end }}

{{- define "patrol.controllerLease" -}}
{{- default (printf "%s-controller" (include "patrol.fullname" .)) .Values.controller.leaderElection.leaseName }}
{{- end }}

{{/*
The arguments of `patrol controller` (cmd/patrol/controller.go; every one is
checked against its --help by charts' TestControllerArgsAreFlags). The
servers bind the Pod's IP, not every interface; booleans are explicit, since
--leader-elect and --cluster-identities default to true.
*/}}
{{- define "patrol.controllerArgs" -}}
{{- $c := .Values.controller }}
{{- $args := list "controller" (printf "--metrics-bind-address=$(POD_IP):%d" (int $c.metricsPort)) (printf "--health-probe-bind-address=$(POD_IP):%d" (int $c.healthPort)) }}
{{- $args = append $args (printf "--leader-elect=%t" $c.leaderElection.enabled) }}
{{- if $c.leaderElection.enabled }}
{{- $args = append $args (printf "--leader-election-id=%s" (include "patrol.controllerLease" .)) }}
{{- $args = append $args (printf "--leader-election-namespace=%s" .Release.Namespace) }}
{{- end }}
{{- if $c.namespaced }}
{{- $args = append $args (printf "--namespace=%s" .Release.Namespace) }}
{{- end }}
{{- $cluster := and $c.clusterIdentities (not $c.namespaced) }}
{{- $args = append $args (printf "--cluster-identities=%t" $cluster) }}
{{- if $cluster }}
{{- $args = append $args (printf "--cluster-resource-namespace=%s" ($c.clusterResourceNamespace | default .Release.Namespace)) }}
{{- end }}
{{- with $c.allowedEndpointHosts }}
{{- $args = append $args (printf "--allowed-endpoint-hosts=%s" (join "," .)) }}
{{- end }}
{{- with $c.allowedSinkHosts }}
{{- $args = append $args (printf "--allowed-sink-hosts=%s" (join "," .)) }}
{{- end }}
{{- toJson (concat $args $c.extraArgs) }}
{{- end }}
