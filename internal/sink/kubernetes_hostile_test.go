package sink

import (
	"context"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/httpx/httpxtest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// client-go adds the bearer token in its transport, so a redirected request
// would carry it to the target: patrol's Kubernetes clients never follow one.
func TestKubeClientsetNeverFollowsARedirect(t *testing.T) {
	away := httpxtest.NewThief(t, `{}`)
	srv := httpxtest.Redirector(t, away.URL, http.StatusTemporaryRedirect)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cs, err := NewKubeClientset(&rest.Config{Host: srv.URL, BearerToken: "kube-t0ken-secret", TLSClientConfig: rest.TLSClientConfig{CAData: ca}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Secrets("ns").Get(context.Background(), "s", metav1.GetOptions{})
	if away.Hits() != 0 {
		t.Fatalf("the redirect target received %q", away.Got())
	}
	if err == nil || !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("want a redirect error naming the apiserver, got %v", err)
	}
}
