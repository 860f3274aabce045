package web_test

import (
	"strings"
	"testing"

	"github.com/sesame-edu/sesame/server/paths"
)

// TestRequestIDsAreRandom holds finding 15(c): Fiber's default request ids
// count up from a random start (consecutive ones differ only in their first
// characters), which tells a client how busy the server is. Each id must
// be 128 random bits, whatever the route.
func TestRequestIDsAreRandom(t *testing.T) {
	a := newTestApp(t)
	tests := []struct{ name, path string }{
		{"page", "/"},
		{"probe", paths.Healthz},
		{"not found", "/nowhere"},
		{"asset", "/assets/app.css"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev string
			for range 10 {
				resp := a.get(tt.path)
				resp.Body.Close()
				id := resp.Header.Get("X-Request-ID")
				hex := strings.ReplaceAll(id, "-", "")
				if len(hex) < 32 || strings.Trim(strings.ToLower(hex), "0123456789abcdef") != "" {
					t.Fatalf("request id %q is not 128 bits in hex", id)
				}
				if seen[id] {
					t.Fatalf("request id %q given twice", id)
				}
				seen[id] = true
				// A counter leaves one end unchanged between consecutive ids;
				// random ids share 8 characters at either end once in 2^32.
				if prev != "" && (id[:8] == prev[:8] || id[len(id)-8:] == prev[len(prev)-8:]) {
					t.Errorf("consecutive request ids %q and %q share an end", prev, id)
				}
				prev = id
			}
		})
	}
}
