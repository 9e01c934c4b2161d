package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/patrol-dev/patrol/internal/metrics"
)

// Defaults of `patrol controller`.
const (
	DefaultMetricsAddr    = "127.0.0.1:8080"
	DefaultProbeAddr      = "127.0.0.1:8081"
	DefaultLeaderElection = "patrol-controller"
)

// Options configure Run.
type Options struct {
	// Namespace limits the controller to PersonalAccessTokens,
	// EntraAccessTokens and AzureDevOpsIdentities of one namespace ("" = every namespace).
	Namespace string
	// ClusterResourceNamespace holds the Secrets ClusterAzureDevOpsIdentities reference.
	ClusterResourceNamespace string
	// ClusterIdentities: watch ClusterAzureDevOpsIdentities (needs a ClusterRole).
	ClusterIdentities bool
	// MetricsAddr serves /metrics ("0" = off); ProbeAddr /healthz and /readyz ("0" = off).
	MetricsAddr, ProbeAddr string
	// LeaderElection on a coordination.k8s.io Lease named LeaderElectionID
	// in LeaderElectionNamespace (default: the Pod's namespace).
	LeaderElection          bool
	LeaderElectionID        string
	LeaderElectionNamespace string
	// Version and Build for the User-Agent and patrol_build_info.
	Version string
	Build   metrics.BuildInfo
	Logger  *slog.Logger
	// Tests.
	Now        func() time.Time
	OrphanAge  time.Duration
	Backoff    Backoff
	Resync     time.Duration
	HTTPClient *http.Client
	Hook       func(rotation.HookEvent) error
	// Ready, when set, is closed once the controller serves (caches synced).
	Ready chan<- struct{}
	// MetricsListening, when set, receives the metrics listener's address.
	MetricsListening func(addr string)
	// AllowedEndpointHosts are the hosts identities' spec.endpoints may
	// name (exact hosts, *.suffix wildcards; entries may be comma lists);
	// empty: DefaultAllowedEndpointHosts.
	AllowedEndpointHosts []string
	// AllowedSinkHosts are the hosts spec.sinks of kind keyVault and http
	// may deliver to (--allowed-sink-hosts); empty: DefaultAllowedSinkHosts.
	AllowedSinkHosts []string
}

var setLogger sync.Once

// Scheme has the types the controller reads and writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	_ = patrolv1.AddToScheme(s)
	return s
}

// Run runs the controller on cfg until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	setLogger.Do(func() { crlog.SetLogger(logr.FromSlogHandler(log.Handler())) })
	mo := ctrl.Options{
		Scheme:                        Scheme(),
		Logger:                        logr.FromSlogHandler(log.Handler()),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        orOff(o.ProbeAddr),
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		// Run may run again in the same process (a restarted controller in
		// tests); controller names are then not unique process-wide.
		Controller: config.Controller{SkipNameValidation: ptr(true)},
	}
	if mo.LeaderElectionID == "" {
		mo.LeaderElectionID = DefaultLeaderElection
	}
	var secretNamespaces []string
	if o.Namespace != "" {
		mo.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}}
		secretNamespaces = append(secretNamespaces, o.Namespace)
		if o.ClusterIdentities && o.ClusterResourceNamespace != "" && o.ClusterResourceNamespace != o.Namespace {
			secretNamespaces = append(secretNamespaces, o.ClusterResourceNamespace)
		}
	}
	// Secrets: metadata only, stripped (secretwatch.go).
	mo.Cache.ByObject = map[client.Object]cache.ByObject{&corev1.Secret{}: secretCacheOptions(secretNamespaces)}
	allowed, err := ParseHostAllowList(o.AllowedEndpointHosts)
	if err != nil {
		return err
	}
	allowedSinks, err := ParseSinkHostAllowList(o.AllowedSinkHosts)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return fmt.Errorf("controller manager: %w", err)
	}
	kube, err := sink.NewKubeClientset(cfg)
	if err != nil {
		return err
	}
	m := NewMetrics(o.Build)
	pr := &PATReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Kube: kube, Recorder: mgr.GetEventRecorder("patrol-controller"),
		ClusterResourceNamespace: o.ClusterResourceNamespace, HTTPClient: o.HTTPClient, Version: o.Version,
		Now: o.Now, Logger: log, OrphanAge: o.OrphanAge, Backoff: o.Backoff, Resync: o.Resync, Hook: o.Hook, Metrics: m,
		AllowedHosts: allowed, AllowedSinkHosts: allowedSinks,
	}
	if err := Setup(ctx, mgr, pr, o.ClusterIdentities); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	var synced atomic.Bool
	if err := mgr.AddReadyzCheck("caches", func(*http.Request) error {
		if !synced.Load() {
			return errors.New("caches not synced yet")
		}
		return nil
	}); err != nil {
		return err
	}
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return nil
		}
		synced.Store(true)
		if o.Ready != nil {
			close(o.Ready)
		}
		return nil
	})); err != nil {
		return err
	}
	if o.MetricsAddr != "" && o.MetricsAddr != "0" {
		if err := mgr.Add(metricsRunnable(o.MetricsAddr, m, o.MetricsListening, log)); err != nil {
			return err
		}
	}
	log.Info("controller starting", slog.String("namespace", orAll(o.Namespace)), slog.Bool("leaderElection", o.LeaderElection),
		slog.String("allowedEndpointHosts", allowed.String()),
		slog.String("metrics", o.MetricsAddr), slog.String("probes", o.ProbeAddr))
	return mgr.Start(ctx)
}

func orOff(a string) string {
	if a == "" {
		return "0"
	}
	return a
}

func orAll(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}

// Setup registers the reconcilers with mgr: pr for PersonalAccessTokens,
// an EntraTokenReconciler sharing pr for EntraAccessTokens, and the identities'.
func Setup(ctx context.Context, mgr manager.Manager, pr *PATReconciler, clusterIdentities bool) error {
	for _, o := range []client.Object{&patrolv1.PersonalAccessToken{}, &patrolv1.EntraAccessToken{}} {
		if err := mgr.GetFieldIndexer().IndexField(ctx, o, indexIdentity, patIdentityKey); err != nil {
			return fmt.Errorf("index %T by identity: %w", o, err)
		}
	}
	if err := indexSecrets(ctx, mgr, clusterIdentities); err != nil {
		return fmt.Errorf("index the Secret watches: %w", err)
	}
	// An identity's change (created, Secrets rotated, deleted) wakes the
	// PersonalAccessTokens (list) or EntraAccessTokens that reference it.
	usersOf := func(kind string, list client.ObjectList) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return identityUsers(ctx, mgr.GetClient(), kind, o.GetNamespace(), o.GetName(), list)
		})
	}
	changed := builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))
	for _, c := range []struct {
		name string
		obj  client.Object
		list client.ObjectList
		r    reconcile.Reconciler
	}{
		{"personalaccesstoken", &patrolv1.PersonalAccessToken{}, &patrolv1.PersonalAccessTokenList{}, pr},
		{"entraaccesstoken", &patrolv1.EntraAccessToken{}, &patrolv1.EntraAccessTokenList{}, &EntraTokenReconciler{PATReconciler: pr}},
	} {
		b := ctrl.NewControllerManagedBy(mgr).Named(c.name).For(c.obj, changed).
			Watches(&patrolv1.AzureDevOpsIdentity{}, usersOf(kindNamespaced, c.list), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
			// Its target Secret deleted or edited; a Secret its identity references changed.
			WatchesMetadata(&corev1.Secret{}, targetUsers(mgr.GetClient(), c.list), builder.WithPredicates(targetChanged)).
			WatchesMetadata(&corev1.Secret{}, referenceUsers(mgr.GetClient(), c.list, clusterIdentities, pr.ClusterResourceNamespace), builder.WithPredicates(referenceChanged))
		if clusterIdentities {
			b = b.Watches(&patrolv1.ClusterAzureDevOpsIdentity{}, usersOf(kindCluster, c.list), builder.WithPredicates(predicate.GenerationChangedPredicate{}))
		}
		if err := b.Complete(c.r); err != nil {
			return err
		}
	}
	// A PersonalAccessToken's or EntraAccessToken's change or deletion
	// wakes its identity (a deleted identity waits for its last user).
	identityOf := func(kind string) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			ref, ok := identityRefOf(o)
			if !ok || refKind(ref) != kind {
				return nil
			}
			key := client.ObjectKey{Name: ref.Name}
			if kind == kindNamespaced {
				key.Namespace = o.GetNamespace()
			}
			return []reconcile.Request{{NamespacedName: key}}
		})
	}
	if err := ctrl.NewControllerManagedBy(mgr).Named("azuredevopsidentity").
		For(&patrolv1.AzureDevOpsIdentity{}).
		Watches(&patrolv1.PersonalAccessToken{}, identityOf(kindNamespaced)).
		Watches(&patrolv1.EntraAccessToken{}, identityOf(kindNamespaced)).
		Complete(&IdentityReconciler{Client: mgr.GetClient(), AllowedHosts: pr.AllowedHosts}); err != nil {
		return err
	}
	if clusterIdentities {
		if err := ctrl.NewControllerManagedBy(mgr).Named("clusterazuredevopsidentity").
			For(&patrolv1.ClusterAzureDevOpsIdentity{}).
			Watches(&patrolv1.PersonalAccessToken{}, identityOf(kindCluster)).
			Watches(&patrolv1.EntraAccessToken{}, identityOf(kindCluster)).
			Complete(&IdentityReconciler{Client: mgr.GetClient(), Cluster: true, AllowedHosts: pr.AllowedHosts}); err != nil {
			return err
		}
	}
	return nil
}

// metricsRunnable serves /metrics: patrol's series (docs/metrics.md) and
// controller-runtime's (workqueue, reconcile, client-go).
func metricsRunnable(addr string, m *Metrics, listening func(string), log *slog.Logger) manager.Runnable {
	return everyReplica(func(ctx context.Context) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics: listen on %s: %w", addr, err)
		}
		if listening != nil {
			listening(ln.Addr().String())
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{m, ctrlmetrics.Registry}, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

// everyReplica is a Runnable that runs on every replica, leader or not.
type everyReplica func(ctx context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }

func ptr[T any](v T) *T { return &v }
