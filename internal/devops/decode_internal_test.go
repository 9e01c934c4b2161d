package devops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// TestDecodeJSONWithBufferIsDecode: decodeJSON with a reused buffer gives
// json.Decoder.Decode's result and error for every body, the odd ones
// included (trailing data, empty, truncated, a read error after or inside the
// value).
func TestDecodeJSONWithBufferIsDecode(t *testing.T) {
	readErr := errors.New("connection reset")
	bodies := []struct {
		name string
		data string
		err  error // returned by the reader after data
	}{
		{"page", `{"continuationToken":"c","patTokens":[{"displayName":"a","targetAccounts":["x"],"token":"t"}]}`, nil},
		{"leading space", "  \n" + `{"patTokens":[]}`, nil},
		{"trailing data", `{"continuationToken":"c"} <html>`, nil},
		{"two values", `{"continuationToken":"a"}{"continuationToken":"b"}`, nil},
		{"empty", ``, nil},
		{"truncated", `{"patTokens":[{"displayName":"a"`, nil},
		{"html", `<html>sign in</html>`, nil},
		{"type error", `{"continuationToken":5,"patTokens":[{"displayName":"a"}]}`, nil},
		{"read error after the value", `{"continuationToken":"c"}`, readErr},
		{"read error inside the value", `{"continuationToken":"c","pat`, readErr},
		{"read error at once", ``, readErr},
	}
	var buf bytes.Buffer // shared by every case, as a listing shares it
	buf.WriteString("stale bytes of an earlier page")
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			body := func() io.Reader {
				r := io.Reader(bytes.NewReader([]byte(b.data)))
				if b.err != nil {
					r = io.MultiReader(r, errReader{b.err})
				}
				return r
			}
			var want, got api.PagedPatTokens
			wantErr := json.NewDecoder(body()).Decode(&want)
			gotErr := decodeJSON(body(), &buf, &got)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || reflect.TypeOf(gotErr) != reflect.TypeOf(wantErr) {
				t.Errorf("error %T %v, Decode gives %T %v", gotErr, gotErr, wantErr, wantErr)
			}
			if errors.Is(wantErr, io.EOF) != errors.Is(gotErr, io.EOF) || errors.Is(wantErr, readErr) != errors.Is(gotErr, readErr) {
				t.Errorf("errors.Is differs: %v vs Decode's %v", gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded %+v, Decode gives %+v", got, want)
			}
		})
	}
}

// TestDecodeJSONLargeBodyStreams: a body larger than decodeBufMax streams
// on through a Decoder (same result as Decode) after the buffered prefix.
func TestDecodeJSONLargeBodyStreams(t *testing.T) {
	var page bytes.Buffer
	page.WriteString(`{"continuationToken":"c","patTokens":[`)
	for i := 0; page.Len() <= 2*decodeBufMax; i++ {
		if i > 0 {
			page.WriteByte(',')
		}
		fmt.Fprintf(&page, `{"displayName":"pat-%07d","scope":"vso.code"}`, i)
	}
	page.WriteString(`]} trailing`)
	var want, got api.PagedPatTokens
	wantErr := json.NewDecoder(bytes.NewReader(page.Bytes())).Decode(&want)
	var buf bytes.Buffer
	gotErr := decodeJSON(bytes.NewReader(page.Bytes()), &buf, &got)
	if gotErr != nil || wantErr != nil || !reflect.DeepEqual(got, want) || len(got.PatTokens) < 1000 {
		t.Fatalf("decodeJSON: %v, %d PATs; Decode: %v, %d PATs", gotErr, len(got.PatTokens), wantErr, len(want.PatTokens))
	}
	if buf.Cap() > 2*decodeBufMax+bytes.MinRead {
		t.Errorf("the buffer grew to %d bytes for a %d-byte body: it must hold at most decodeBufMax", buf.Cap(), page.Len())
	}
}
