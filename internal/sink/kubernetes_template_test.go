package sink

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// Templates render further keys from the delivered PAT at every write; a
// bad template or a clash with the token keys is refused when the sink is built.
func TestKubernetesSecretTemplates(t *testing.T) {
	cs := fake.NewClientset()
	s, err := NewKubernetesSecret(KubernetesSecretOptions{Client: cs, Namespace: "ns", Name: "s", Create: true,
		Templates: map[string]string{".git-credentials": "https://pat:{{{token}}}@dev.azure.com", "esc": "{{token}}", "info": "{{credential}} {{authorizationId}} {{validTo}}"}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Write(context.Background(), "abc<&>", Meta{Credential: "c", AuthorizationID: "id-1", ValidTo: at}); err != nil {
		t.Fatal(err)
	}
	got, _ := cs.CoreV1().Secrets("ns").Get(context.Background(), "s", metav1.GetOptions{})
	if v := string(got.Data[".git-credentials"]); v != "https://pat:abc<&>@dev.azure.com" {
		t.Errorf(".git-credentials = %q (no HTML escaping in triple braces)", v)
	}
	if v := string(got.Data["esc"]); v != "abc&lt;&amp;&gt;" {
		t.Errorf("esc = %q (Mustache escapes double braces)", v)
	}
	if v := string(got.Data["info"]); v != "c id-1 2027-01-02T03:04:05Z" {
		t.Errorf("info = %q", v)
	}
	for _, tc := range []struct {
		tpl  map[string]string
		want string
	}{
		{map[string]string{"token": "{{token}}"}, "also the token"},
		{map[string]string{"x": "{{token"}, `template "x"`},
	} {
		if _, err := NewKubernetesSecret(KubernetesSecretOptions{Client: cs, Namespace: "ns", Name: "s", Templates: tc.tpl}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("templates %v: %v, want %q", tc.tpl, err, tc.want)
		}
	}
}
