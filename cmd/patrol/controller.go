package main

import (
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/metrics"
	"github.com/patrol-dev/patrol/internal/sink"
	"github.com/spf13/cobra"
)

func newControllerCmd(a *app) *cobra.Command {
	var (
		o                       controller.Options
		kubeconfig, kubeContext string
	)
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the Kubernetes controller of PersonalAccessToken resources (CRDs in deploy/crds)",
		Long: `controller runs until stopped, reconciling the patrol.dev/v1alpha1 resources
(docs/controller.md): AzureDevOpsIdentity and ClusterAzureDevOpsIdentity say
where and as whom to sign in; each PersonalAccessToken is kept alive in its
target Secret with the rotation engine of patrol rotate (create → verify →
deliver → verify → revoke), renewed at its renewal time or when its
patrol.dev/renew-now annotation changes, and revoked when it is deleted
(unless spec.deletionPolicy: Retain).

It serves /metrics (the series of docs/metrics.md, live) on
--metrics-bind-address and /healthz and /readyz on --health-probe-bind-address;
both default to 127.0.0.1 (in a Pod, bind ":8080"/":8081" so Prometheus and
the kubelet reach them). With --leader-elect (default) one replica at a time
reconciles, holding the coordination.k8s.io Lease --leader-election-id.

The Kubernetes client comes from --kubeconfig/--context, in a Pod from its
ServiceAccount, else from $KUBECONFIG or ~/.kube/config. Sign-in settings come
from the identity resources, not from the global flags.

An identity's spec.endpoints may only name hosts of --allowed-endpoint-hosts
(default: Azure's public and sovereign Entra authorities and Azure DevOps
Services), so a namespace's user cannot make the controller send a password,
a sign-in or a PAT to a host of their choosing; an identity naming another
host is Ready=False with reason EndpointNotAllowed and nothing is sent to it.`,
		Args: noArgs,
		Example: `  # In a Pod (the Deployment's args)
  patrol controller --metrics-bind-address :8080 --health-probe-bind-address :8081

  # From a workstation against the current kubeconfig context, one namespace
  patrol controller --namespace ci --leader-elect=false

  # An Azure DevOps Server next to Azure DevOps Services (the list replaces the default)
  patrol controller --allowed-endpoint-hosts 'login.microsoftonline.com,dev.azure.com,*.dev.azure.com,*.visualstudio.com,ado.example.com'

  # Force a renewal now
  kubectl annotate personalaccesstoken agents patrol.dev/renew-now="$(date +%s)" --overwrite`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, ns, err := sink.KubeClientConfig(kubeconfig, kubeContext)
			if err != nil {
				return err
			}
			if o.LeaderElectionNamespace == "" {
				o.LeaderElectionNamespace = ns
			}
			if o.ClusterResourceNamespace == "" {
				o.ClusterResourceNamespace = ns
			}
			vi := versionInfo()
			o.Version, o.Build = vi.Version, metrics.BuildInfo{Version: vi.Version, Revision: vi.Commit, GoVersion: vi.GoVersion}
			o.Logger = a.runLogger()
			// A stop signal ends Run without error: the controller stopped as asked.
			return controller.Run(cmd.Context(), cfg, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&kubeContext, "context", "", "kubeconfig context (default: the current one)")
	fl.StringVar(&o.Namespace, "namespace", "", "reconcile only this namespace's PersonalAccessTokens and AzureDevOpsIdentities (default: every namespace)")
	fl.StringVar(&o.ClusterResourceNamespace, "cluster-resource-namespace", "", "namespace of the Secrets ClusterAzureDevOpsIdentities reference (default: the controller's namespace)")
	fl.BoolVar(&o.ClusterIdentities, "cluster-identities", true, "watch ClusterAzureDevOpsIdentity resources (needs a ClusterRole to read them)")
	fl.StringVar(&o.MetricsAddr, "metrics-bind-address", controller.DefaultMetricsAddr, `address of /metrics ("0" = off)`)
	fl.StringVar(&o.ProbeAddr, "health-probe-bind-address", controller.DefaultProbeAddr, `address of /healthz and /readyz ("0" = off)`)
	fl.BoolVar(&o.LeaderElection, "leader-elect", true, "reconcile only while holding the leader election Lease (run several replicas safely)")
	fl.StringVar(&o.LeaderElectionID, "leader-election-id", controller.DefaultLeaderElection, "name of the leader election Lease")
	fl.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the Lease (default: the controller's namespace)")
	fl.StringSliceVar(&o.AllowedEndpointHosts, "allowed-endpoint-hosts", controller.DefaultAllowedEndpointHosts,
		"hosts an identity's spec.endpoints (authorityHost, vssps, devops) may name: host names, IP addresses, *.suffix wildcards; repeatable or comma-separated; replaces the default (Azure's public and sovereign Entra authorities, Azure DevOps Services)")
	fl.StringSliceVar(&o.AllowedSinkHosts, "allowed-sink-hosts", controller.DefaultAllowedSinkHosts,
		"hosts a PersonalAccessToken's spec.sinks of kind keyVault (vaultUrl) and http (url) may deliver to: host names, IP addresses, *.suffix wildcards; repeatable or comma-separated; replaces the default (Azure Key Vault of the public and sovereign clouds); a third-party tool's host must be listed")
	return cmd
}
