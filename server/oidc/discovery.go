package oidc

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
)

// What Sésame serves, as discovery must say it. op builds its discovery
// document from what its storage could do, not from what a deployment
// serves: it always lists the implicit grant and the id_token response
// types, the JWT bearer grant because the storage interface requires its
// methods, and a device authorization endpoint that is not routed. A
// client library that reads discovery to choose a flow (Nextcloud's and
// Moodle's plugins offer the implicit flow when it is listed) would pick
// one Sésame refuses.
var (
	servedGrantTypes    = []zoidc.GrantType{zoidc.GrantTypeCode, zoidc.GrantTypeRefreshToken}
	servedResponseTypes = []string{string(zoidc.ResponseTypeCode)}
)

// discovery is op's discovery endpoint with the document narrowed to what
// is served. op still writes the document (and its headers, CORS
// included); only the lists above are replaced.
func discovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(buf, r)
		body := buf.body.Bytes()
		if buf.status == http.StatusOK {
			var doc zoidc.DiscoveryConfiguration
			if err := json.Unmarshal(body, &doc); err == nil {
				doc.GrantTypesSupported = servedGrantTypes
				doc.ResponseTypesSupported = servedResponseTypes
				doc.DeviceAuthorizationEndpoint = ""
				if b, err := json.Marshal(&doc); err == nil {
					body = b
				}
			}
		}
		for k, v := range buf.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(buf.status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})
}

// bufferedResponse keeps what a handler writes, to be changed before it
// is sent.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
