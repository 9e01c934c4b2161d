package scheme

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

// AWS documentation example "GET Bucket Lifecycle" (Signature V4, S3,
// header-based auth): examplebucket, us-east-1, 20130524T000000Z.
func TestSignV4AWSExample(t *testing.T) {
	u, _ := url.Parse("https://examplebucket.s3.amazonaws.com/?lifecycle")
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	got := SignV4("GET", u, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3", at)
	want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	u2, _ := url.Parse("https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J")
	got = SignV4("GET", u2, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3", at)
	if !strings.HasSuffix(got, "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") {
		t.Errorf("list objects: %s", got)
	}
}

func TestTerraformAWSHeaders(t *testing.T) {
	aws := loadType(t, "microsoft__azure-pipelines-terraform__terraform.json", "AWSServiceEndpoint")
	ep := endpoint(aws.Name, "https://s3.amazonaws.com/", "UsernamePassword", map[string]string{
		"username": "AKIAIOSFODNN7EXAMPLE", "password": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "region": "us-east-1"}, nil)
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	a, err := New(ep, aws, Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.Headers(context.Background(), "GET", "https://examplebucket.s3.amazonaws.com/?lifecycle")
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("X-Amz-Date") != "20130524T000000Z" || h.Get("X-Amz-Content-Sha256") != emptySHA256 ||
		!strings.HasSuffix(h.Get("Authorization"), "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") {
		t.Errorf("headers = %v", h)
	}
}
