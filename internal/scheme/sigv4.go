package scheme

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/mustache"
)

// AWS SigV4 header helpers used by the terraform AWS type (S3):
//
//	X-Amz-Date:           {{ #getCurrentUTCDate {} }}
//	X-Amz-Content-Sha256: {{ #getHashedPayload {} }}
//	Authorization:        {{ #getAuthorizationHeader { 'username' : 'endpoint.username', 'password' : 'endpoint.password', 'method' : 'get' } }}
//
// All three use one timestamp per request. The payload is empty (header
// rendering never sees a body), the service is taken from the host
// (s3 when unsure) and the region from endpoint.region (us-east-1 if unset).
// Signed headers: host;x-amz-content-sha256;x-amz-date.

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func bindingOf(c *mustache.Call) (*twoHopBinding, error) {
	if c.Ctx != nil {
		if b, ok := c.Ctx.Value(twoHopKey{}).(*twoHopBinding); ok && b != nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s can only run in a scheme header of an endpoint", c.Name)
}

func helperAmzDate(c *mustache.Call) (any, error) {
	b, err := bindingOf(c)
	if err != nil {
		return nil, err
	}
	return b.at.UTC().Format("20060102T150405Z"), nil
}

func helperHashedPayload(c *mustache.Call) (any, error) {
	if _, err := bindingOf(c); err != nil {
		return nil, err
	}
	return emptySHA256, nil
}

func helperAWSAuthorization(c *mustache.Call) (any, error) {
	b, err := bindingOf(c)
	if err != nil {
		return nil, err
	}
	v, err := ParseLenientJSON(strings.TrimSpace(c.RawArgs))
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("#getAuthorizationHeader needs a JSON object argument")
	}
	get := func(k, def string) string {
		if x, ok := getCI(m, k); ok {
			if s, ok := x.(string); ok {
				return s
			}
		}
		return def
	}
	a := b.a
	ak, err := a.ref(get("username", "endpoint.username"), true)
	if err != nil {
		return nil, fmt.Errorf("username: %w", err)
	}
	sk, err := a.ref(get("password", "endpoint.password"), true)
	if err != nil {
		return nil, fmt.Errorf("password: %w", err)
	}
	region := ""
	if r, err := a.ref("endpoint.region", true); err == nil {
		region = r
	}
	if region == "" {
		region = "us-east-1"
	}
	method := strings.ToUpper(get("method", b.method))
	return SignV4(method, b.url, ak, sk, region, serviceOf(b.url.Hostname()), b.at), nil
}

func serviceOf(host string) string {
	h := strings.ToLower(host)
	for _, s := range []string{"s3", "sts", "ec2", "iam", "lambda", "dynamodb", "sqs", "sns"} {
		if strings.HasPrefix(h, s+".") || strings.Contains(h, "."+s+".") || strings.HasPrefix(h, s+"-") || strings.Contains(h, "."+s+"-") {
			return s
		}
	}
	return "s3"
}

// SignV4 returns the Authorization header value of an AWS Signature V4
// signature over method, u, an empty payload and the headers host,
// x-amz-content-sha256 and x-amz-date (at).
func SignV4(method string, u *url.URL, accessKey, secretKey, region, service string, at time.Time) string {
	at = at.UTC()
	amzDate := at.Format("20060102T150405Z")
	day := at.Format("20060102")
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	canonical := strings.Join([]string{
		method,
		path,
		canonicalQuery(u.Query()),
		"host:" + u.Host + "\nx-amz-content-sha256:" + emptySHA256 + "\nx-amz-date:" + amzDate + "\n",
		"host;x-amz-content-sha256;x-amz-date",
		emptySHA256,
	}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	scope := day + "/" + region + "/" + service + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := hmacSHA256([]byte("AWS4"+secretKey), day)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	sig := hex.EncodeToString(hmacSHA256(k, toSign))
	return "AWS4-HMAC-SHA256 Credential=" + accessKey + "/" + scope + ",SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=" + sig
}

func hmacSHA256(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

func awsEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalQuery(q url.Values) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, kv{awsEscape(k), awsEscape(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}
