package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/kubetest"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const kubeTestPAT = "kubetest-pat-value-0123456789abcdef"

func TestKubernetesSecretValidate(t *testing.T) {
	cases := []struct {
		name, params, wantErr string
	}{
		{"ok minimal", `{"type":"kubernetes-secret","name":"ado-pat"}`, ""},
		{"ok full", `{"type":"kubernetes-secret","namespace":"ci","name":"ado-pat","key":"pat","authorizationIdKey":"id","validToKey":"exp","labels":{"team":"x"},"annotations":{"example.com/a":"b"},"kubeconfig":"/k","context":"c","create":false,"secretType":"Opaque"}`, ""},
		{"missing name", `{"type":"kubernetes-secret"}`, "name: required"},
		{"unknown field", `{"type":"kubernetes-secret","name":"a","nmespace":"x"}`, "unknown field"},
		{"bad name", `{"type":"kubernetes-secret","name":"Bad_Name"}`, "not a valid Secret name"},
		{"bad namespace", `{"type":"kubernetes-secret","name":"a","namespace":"a.b"}`, "namespace"},
		{"bad key", `{"type":"kubernetes-secret","name":"a","key":"a b"}`, "key"},
		{"dup key", `{"type":"kubernetes-secret","name":"a","key":"x","validToKey":"x"}`, "distinct keys"},
		{"reserved annotation", `{"type":"kubernetes-secret","name":"a","annotations":{"patrol.dev/valid-to":"x"}}`, "reserved"},
		{"managed-by label", `{"type":"kubernetes-secret","name":"a","labels":{"app.kubernetes.io/managed-by":"me"}}`, "set by patrol"},
		{"bad label value", `{"type":"kubernetes-secret","name":"a","labels":{"a":"no spaces"}}`, "labels[a]"},
		{"tls type", `{"type":"kubernetes-secret","name":"a","secretType":"kubernetes.io/tls"}`, "secretType"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(Spec{Type: KubernetesSecretTypeName, Params: json.RawMessage(c.params), Where: "sinks[0]"})
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, c.wantErr)
			}
			if errkind.Of(err) != errkind.Usage {
				t.Fatalf("kind %v, want usage", errkind.Of(err))
			}
		})
	}
}

func TestKubernetesSecretRefusesEmpty(t *testing.T) {
	cs := fake.NewClientset()
	s, err := NewKubernetesSecret(KubernetesSecretOptions{Client: cs, Namespace: "ns", Name: "s", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(context.Background(), "", Meta{})
	if err == nil || errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty write: %v", err)
	}
	if len(cs.Actions()) != 0 {
		t.Fatalf("empty write touched the API: %v", cs.Actions())
	}
}

// A conflicting writer on the first update forces a re-read and retry; the
// other writer's key survives.
func TestKubernetesSecretRetriesConflictFake(t *testing.T) {
	cs := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", ResourceVersion: "1"}, Data: map[string][]byte{"other": []byte("keep")}})
	var updates atomic.Int32
	cs.PrependReactor("update", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if updates.Add(1) == 1 {
			return true, nil, apiConflict()
		}
		return false, nil, nil
	})
	s, _ := NewKubernetesSecret(KubernetesSecretOptions{Client: cs, Namespace: "ns", Name: "s", Create: true})
	if err := s.Write(context.Background(), kubeTestPAT, Meta{AuthorizationID: "a1"}); err != nil {
		t.Fatal(err)
	}
	if updates.Load() != 2 {
		t.Fatalf("updates = %d, want 2 (one conflict + one retry)", updates.Load())
	}
	got, _ := cs.CoreV1().Secrets("ns").Get(context.Background(), "s", metav1.GetOptions{})
	if string(got.Data["token"]) != kubeTestPAT || string(got.Data["other"]) != "keep" {
		t.Fatalf("data after retry: keys %v", keys(got.Data))
	}
}

func apiConflict() error {
	return &conflictErr{}
}

type conflictErr struct{}

func (conflictErr) Error() string { return "conflict" }
func (conflictErr) Status() metav1.Status {
	return metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonConflict, Code: 409, Message: "the object has been modified"}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// ---- real apiserver -------------------------------------------------------

func kubeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKubernetesSecretCreateUpdateKeepsKeys(t *testing.T) {
	c := kubetest.Start(t)
	ctx := kubeCtx(t)
	ns := c.Namespace(t)
	admin := c.AdminClient(t)

	// Built through the registry from a kubeconfig file, as patrol.yaml would.
	params, _ := json.Marshal(map[string]any{
		"type": "kubernetes-secret", "namespace": ns, "name": "ado-pat", "kubeconfig": c.AdminKubeconfig,
		"authorizationIdKey": "authorizationId", "labels": map[string]string{"team": "build"},
		"annotations": map[string]string{"example.com/owner": "ci"},
	})
	snk, err := Build(Spec{Type: KubernetesSecretTypeName, Params: params, Where: "test"}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if snk.Name() != "kubernetes-secret:"+ns+"/ado-pat" {
		t.Fatalf("Name() = %s", snk.Name())
	}
	held, err := snk.Read(ctx)
	if err != nil || held.Present {
		t.Fatalf("Read of a missing Secret: %+v %v", held, err)
	}
	validTo := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	rotated := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	if err := snk.Write(ctx, kubeTestPAT, Meta{Credential: "build", AuthorizationID: "auth-1", ValidTo: validTo, RotatedAt: rotated, Kind: "pat"}); err != nil {
		t.Fatalf("create: %v", err)
	}
	s, err := admin.CoreV1().Secrets(ns).Get(ctx, "ado-pat", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["token"]) != kubeTestPAT || string(s.Data["authorizationId"]) != "auth-1" || s.Type != corev1.SecretTypeOpaque {
		t.Fatalf("created Secret: type %s keys %v", s.Type, keys(s.Data))
	}
	if s.Labels[LabelManagedBy] != "patrol" || s.Labels["team"] != "build" || s.Annotations["example.com/owner"] != "ci" ||
		s.Annotations[AnnotationValidTo] != "2027-01-02T03:04:05Z" || s.Annotations[AnnotationCredential] != "build" {
		t.Fatalf("metadata: labels %v annotations %v", s.Labels, s.Annotations)
	}

	// Someone adds their own key, label and annotation; an update keeps them.
	s.Data["ca.crt"] = []byte("not-a-secret")
	s.Annotations["other.example/x"] = "y"
	if _, err := admin.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := snk.Write(ctx, kubeTestPAT+"-2", Meta{Credential: "build", AuthorizationID: "auth-2", ValidTo: validTo.AddDate(0, 0, 30), RotatedAt: rotated.Add(time.Hour), Kind: "pat"}); err != nil {
		t.Fatalf("update: %v", err)
	}
	s, _ = admin.CoreV1().Secrets(ns).Get(ctx, "ado-pat", metav1.GetOptions{})
	if string(s.Data["token"]) != kubeTestPAT+"-2" || string(s.Data["ca.crt"]) != "not-a-secret" || s.Annotations["other.example/x"] != "y" {
		t.Fatalf("update lost data: keys %v annotations %v", keys(s.Data), s.Annotations)
	}
	held, err = snk.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !held.Present || held.AuthorizationID != "auth-2" || !held.ValidTo.Equal(validTo.AddDate(0, 0, 30)) || !held.RotatedAt.Equal(rotated.Add(time.Hour)) {
		t.Fatalf("Read = %+v", held)
	}

	// Empty value is refused and the Secret keeps its token.
	if err := snk.Write(ctx, "", Meta{}); err == nil {
		t.Fatal("empty write accepted")
	}
	s, _ = admin.CoreV1().Secrets(ns).Get(ctx, "ado-pat", metav1.GetOptions{})
	if string(s.Data["token"]) != kubeTestPAT+"-2" {
		t.Fatal("Secret emptied")
	}
}

func TestKubernetesSecretCreateFalse(t *testing.T) {
	c := kubetest.Start(t)
	ctx := kubeCtx(t)
	ns := c.Namespace(t)
	snk, _ := NewKubernetesSecret(KubernetesSecretOptions{Client: c.AdminClient(t), Namespace: ns, Name: "missing", Create: false})
	err := snk.Write(ctx, kubeTestPAT, Meta{})
	if errkind.Of(err) != errkind.NotFound || !strings.Contains(err.Error(), "create: true") {
		t.Fatalf("write to missing Secret with create=false: %v", err)
	}
}

// A concurrent writer bumps the resourceVersion between the sink's Get and
// Update: the first Update gets 409 from the real apiserver, the sink re-reads
// and succeeds, and the concurrent writer's change survives.
func TestKubernetesSecretConflictRetryRealServer(t *testing.T) {
	c := kubetest.Start(t)
	ctx := kubeCtx(t)
	ns := c.Namespace(t)
	admin := c.AdminClient(t)
	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Data: map[string][]byte{"token": []byte("old")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	real := c.AdminClient(t).(*kubernetes.Clientset)
	var bumped atomic.Bool
	var updates atomic.Int32
	wrapped := fake.NewClientset()
	// Route the fake's secret calls to the real server, injecting a concurrent
	// write just before the sink's first update.
	wrapped.PrependReactor("*", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		switch act := a.(type) {
		case k8stesting.GetAction:
			o, err := real.CoreV1().Secrets(ns).Get(ctx, act.GetName(), metav1.GetOptions{})
			return true, o, err
		case k8stesting.UpdateAction:
			updates.Add(1)
			if bumped.CompareAndSwap(false, true) {
				cur, err := real.CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{})
				if err != nil {
					return true, nil, err
				}
				cur.Data["concurrent"] = []byte("writer")
				if _, err := real.CoreV1().Secrets(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
					return true, nil, err
				}
			}
			o, err := real.CoreV1().Secrets(ns).Update(ctx, act.GetObject().(*corev1.Secret), metav1.UpdateOptions{})
			return true, o, err
		}
		return true, nil, errors.New("unexpected action " + a.GetVerb())
	})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	snk, _ := NewKubernetesSecret(KubernetesSecretOptions{Client: wrapped, Namespace: ns, Name: "s", Create: true, Logger: logger})
	if err := snk.Write(ctx, kubeTestPAT, Meta{AuthorizationID: "a"}); err != nil {
		t.Fatalf("write with a concurrent writer: %v", err)
	}
	if !strings.Contains(logs.String(), "attempts=2") || strings.Contains(logs.String(), kubeTestPAT) {
		t.Fatalf("debug log should record 2 attempts and never the value:\n%s", logs.String())
	}
	if updates.Load() != 2 {
		t.Fatalf("sink updates = %d, want 2 (409 then retry)", updates.Load())
	}
	s, _ := admin.CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{})
	if string(s.Data["token"]) != kubeTestPAT || string(s.Data["concurrent"]) != "writer" {
		t.Fatalf("after retry: keys %v token ok=%v", keys(s.Data), string(s.Data["token"]) == kubeTestPAT)
	}
}

// The rotator may get/update/patch exactly one Secret (resourceNames): it
// writes that one and gets a helpful Forbidden on any other.
func TestKubernetesSecretRBACResourceNames(t *testing.T) {
	c := kubetest.Start(t)
	ctx := kubeCtx(t)
	ns := c.Namespace(t)
	admin := c.AdminClient(t)
	for _, n := range []string{"ado-pat", "someone-else"} {
		if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: n}, Data: map[string][]byte{"token": []byte("old")}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.BindRole(t, ns, "patrol", kubetest.RotatorUser, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"ado-pat"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{"patrol"}, Verbs: []string{"get", "update"}},
	})
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	data, _ := os.ReadFile(c.RotatorKubeconfig)
	_ = os.WriteFile(kc, data, 0o600)
	mk := func(name string) Sink {
		p, _ := json.Marshal(map[string]any{"type": "kubernetes-secret", "namespace": ns, "name": name, "kubeconfig": kc})
		s, err := Build(Spec{Type: KubernetesSecretTypeName, Params: p, Where: "test"}, Deps{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mine, other := mk("ado-pat"), mk("someone-else")
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err = mine.Write(ctx, kubeTestPAT, Meta{AuthorizationID: "x"}); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("rotator write to its Secret: %v", err)
	}
	err = other.Write(ctx, kubeTestPAT, Meta{})
	if errkind.Of(err) != errkind.Permission {
		t.Fatalf("write to another Secret: want permission error, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"get Secret " + ns + "/someone-else", `resourceNames: ["someone-else"]`, `"update"`, "RoleBinding", `User "rotator"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("Forbidden message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, kubeTestPAT) {
		t.Fatal("error message contains the secret")
	}
	// Creating a missing Secret needs create, which resourceNames cannot grant.
	err = mk("new-one").Write(ctx, kubeTestPAT, Meta{})
	if errkind.Of(err) != errkind.Permission {
		t.Fatalf("get of missing Secret as rotator: %v", err)
	}
	s, _ := admin.CoreV1().Secrets(ns).Get(ctx, "someone-else", metav1.GetOptions{})
	if string(s.Data["token"]) != "old" {
		t.Fatal("forbidden Secret changed")
	}
}

func TestKubernetesSecretImmutable(t *testing.T) {
	c := kubetest.Start(t)
	ctx := kubeCtx(t)
	ns := c.Namespace(t)
	admin := c.AdminClient(t)
	yes := true
	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "frozen"}, Immutable: &yes, Data: map[string][]byte{"token": []byte("old")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	snk, _ := NewKubernetesSecret(KubernetesSecretOptions{Client: admin, Namespace: ns, Name: "frozen", Create: true})
	err := snk.Write(ctx, kubeTestPAT, Meta{})
	if err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("immutable: %v", err)
	}
}
