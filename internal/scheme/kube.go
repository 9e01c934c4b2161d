package scheme

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/patrol-dev/patrol/internal/errkind"
)

type kubeCreds struct {
	token              string
	username, password string
	cert               *tls.Certificate
	roots              *x509.CertPool
	server             string
}

type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Contexts       []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
	Clusters []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server string `json:"server"`
			CAData string `json:"certificate-authority-data"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token          string `json:"token"`
			ClientCertData string `json:"client-certificate-data"`
			ClientKeyData  string `json:"client-key-data"`
			Username       string `json:"username"`
			Password       string `json:"password"`
			Exec           any    `json:"exec"`
			AuthProvider   any    `json:"auth-provider"`
		} `json:"user"`
	} `json:"users"`
}

// kube reads the Kubernetes scheme's kubeconfig (authorizationType
// Kubeconfig): the context named clusterContext (else current-context),
// its user's token, basic credentials or client certificate, and its
// cluster's CA. exec/auth-provider plugins are refused.
func (a *EndpointAuthorizer) kube() (*kubeCreds, error) {
	fail := func(format string, args ...any) (*kubeCreds, error) {
		return nil, authErr(Kubernetes, "kubeconfig", errkind.Usage, format, args...)
	}
	if at, _ := DataCI(a.ep.Data, "authorizationType"); at != "" && !strings.EqualFold(at, "Kubeconfig") {
		return fail("authorizationType %s is resolved by Azure DevOps itself; patrol authorizes only Kubeconfig endpoints", at)
	}
	raw := Param(a.ep, "kubeconfig")
	if strings.TrimSpace(raw) == "" {
		return fail("authorization.parameters.kubeconfig is empty")
	}
	var kc kubeconfig
	if err := yaml.Unmarshal([]byte(raw), &kc); err != nil {
		return fail("not a kubeconfig: %v", err)
	}
	want := Param(a.ep, "clusterContext")
	if want == "" {
		want = kc.CurrentContext
	}
	var cluster, user string
	for _, c := range kc.Contexts {
		if c.Name == want || (want == "" && len(kc.Contexts) == 1) {
			cluster, user = c.Context.Cluster, c.Context.User
		}
	}
	if cluster == "" && user == "" {
		return fail("context %q not found in kubeconfig; set clusterContext to one of its contexts", want)
	}
	out := &kubeCreds{}
	for _, c := range kc.Clusters {
		if c.Name != cluster {
			continue
		}
		out.server = c.Cluster.Server
		if c.Cluster.CAData != "" {
			ca, err := base64.StdEncoding.DecodeString(c.Cluster.CAData)
			if err != nil {
				return fail("cluster %s certificate-authority-data is not base64", cluster)
			}
			out.roots = x509.NewCertPool()
			if !out.roots.AppendCertsFromPEM(ca) {
				return fail("cluster %s certificate-authority-data holds no PEM certificate", cluster)
			}
		}
	}
	for _, u := range kc.Users {
		if u.Name != user {
			continue
		}
		if u.User.Exec != nil || u.User.AuthProvider != nil {
			return fail("user %s uses an exec/auth-provider plugin; patrol only uses static credentials (token, client certificate, basic)", user)
		}
		out.token, out.username, out.password = u.User.Token, u.User.Username, u.User.Password
		if u.User.ClientCertData != "" {
			c, err := base64.StdEncoding.DecodeString(u.User.ClientCertData)
			if err != nil {
				return fail("user %s client-certificate-data is not base64", user)
			}
			k, err := base64.StdEncoding.DecodeString(u.User.ClientKeyData)
			if err != nil {
				return fail("user %s client-key-data is not base64", user)
			}
			pair, err := tls.X509KeyPair(c, k)
			if err != nil {
				return fail("user %s client certificate: %v", user, err)
			}
			out.cert = &pair
		}
		return out, nil
	}
	return nil, authErr(Kubernetes, "kubeconfig", errkind.Usage, "%s", fmt.Sprintf("user %q of context %q not found in kubeconfig", user, want))
}
