package wif

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/graph"
)

// Secret is a password of the connection's application that a conversion
// removes once the converted connection verified (--remove-secret).
type Secret struct {
	KeyID       string `json:"keyId"`
	DisplayName string `json:"displayName,omitempty"`
	Hint        string `json:"hint,omitempty"`
	EndDateTime string `json:"endDateTime,omitempty"`
}

func secretOf(p graph.PasswordCredential) Secret {
	s := Secret{KeyID: p.KeyID, DisplayName: p.DisplayName, Hint: p.Hint}
	if !p.EndDateTime.IsZero() {
		s.EndDateTime = p.EndDateTime.UTC().Format(time.RFC3339)
	}
	return s
}

// String is "keyId (displayName)".
func (s Secret) String() string {
	if s.DisplayName == "" {
		return s.KeyID
	}
	return s.KeyID + " (" + s.DisplayName + ")"
}

// SecretsToRemove checks that every keyID is one of the passwords of the
// application appID and returns them (each once, in the order given). An
// unknown keyId is a usage error that lists the application's passwords.
// Nothing is changed.
func (c *Converter) SecretsToRemove(ctx context.Context, appID string, keyIDs []string) ([]Secret, error) {
	app, err := c.Graph.Application(ctx, appID)
	if err != nil {
		return nil, fmt.Errorf("reading the passwords of application %s: %w", appID, err)
	}
	var out []Secret
	var unknown []string
	seen := map[string]bool{}
	for _, k := range keyIDs {
		k = strings.TrimSpace(k)
		if seen[strings.ToLower(k)] {
			continue
		}
		seen[strings.ToLower(k)] = true
		found := false
		for _, p := range app.PasswordCredentials {
			if strings.EqualFold(p.KeyID, k) {
				out, found = append(out, secretOf(p)), true
				break
			}
		}
		if !found {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return out, nil
	}
	name := appID
	if app.DisplayName != "" {
		name = app.DisplayName + " (" + appID + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--remove-secret %s: not a password of application %s", strings.Join(unknown, ", "), name)
	if len(app.PasswordCredentials) == 0 {
		b.WriteString("; it has no passwords")
	} else {
		b.WriteString("; its passwords are (keyId, displayName, hint, endDateTime):")
		for _, p := range app.PasswordCredentials {
			s := secretOf(p)
			fmt.Fprintf(&b, "\n  %s  %q  %s…  %s", s.KeyID, s.DisplayName, s.Hint, s.EndDateTime)
		}
	}
	return nil, errkind.New(errkind.Usage, errors.New(b.String()))
}

// SharedSecretUsers refuses the removal of the application's secrets when
// another connection of the project still signs in as that application
// with scheme ServicePrincipal (a secret or certificate): removing the
// secret would break it. The error names those connections.
func (c *Converter) SharedSecretUsers(ctx context.Context, project string, ep api.ServiceEndpoint) error {
	appID := ep.Authorization.Param("serviceprincipalid")
	eps, err := c.DevOps.ListServiceEndpoints(ctx, project, devops.EndpointFilter{Type: "azurerm", AuthSchemes: []string{SchemeServicePrincipal}})
	if err != nil {
		return fmt.Errorf("listing the project's Azure RM connections (to check that no other one uses the secret): %w", err)
	}
	var others []string
	for _, o := range eps {
		if strings.EqualFold(o.ID, ep.ID) || !strings.EqualFold(o.Type, "azurerm") || !strings.EqualFold(scheme(o), SchemeServicePrincipal) {
			continue
		}
		if strings.EqualFold(o.Authorization.Param("serviceprincipalid"), appID) {
			others = append(others, fmt.Sprintf("%s (%s)", o.Name, o.ID))
		}
	}
	if len(others) == 0 {
		return nil
	}
	return errkind.New(errkind.Conflict, fmt.Errorf("--remove-secret refused: service connection %s of project %s signs in as application %s with scheme %s too, and removing the secret would break it; convert it first (or leave out --remove-secret)",
		strings.Join(others, ", "), project, appID, SchemeServicePrincipal))
}

// removeSecrets removes the planned passwords of the converted, verified
// connection, then verifies it again. Its errors say what state the
// connection and the application are in.
func (c *Converter) removeSecrets(ctx context.Context, project string, res *Result) error {
	for i, s := range res.RemoveSecrets {
		if err := c.Graph.RemovePassword(ctx, res.AppID, s.KeyID); err != nil {
			left := make([]string, 0, len(res.RemoveSecrets)-i)
			for _, l := range res.RemoveSecrets[i:] {
				left = append(left, l.KeyID)
			}
			return fmt.Errorf("%s is converted to %s and verified, but removing password %s of application %s failed: %w; removed: %s; still there: %s. "+
				"The connection no longer uses them: remove them in the portal (App registrations, Certificates & secrets) or with `az ad app credential delete --id %s --key-id KEYID`; "+
				"do not --revert while a removed password is the connection's former secret",
				res.Name, SchemeWIF, s.KeyID, res.AppID, err, listOrNone(res.RemovedSecrets), strings.Join(left, ", "), res.AppID)
		}
		res.RemovedSecrets = append(res.RemovedSecrets, s.KeyID)
	}
	if err := c.verify(ctx, project, res.ID); err != nil {
		return fmt.Errorf("%s was converted to %s and verified, passwords %s of application %s were removed, and then TestConnection failed: %w. "+
			"The connection signs in with the federated credential (issuer %s, subject %s), not a secret, so the removal should not matter: check the federated credentials of the application and test the connection again in Azure DevOps; "+
			"--revert would bring back a secret that is removed",
			res.Name, SchemeWIF, strings.Join(res.RemovedSecrets, ", "), res.AppID, err, res.Issuer, res.Subject)
	}
	return nil
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}
