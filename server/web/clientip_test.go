package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/web"
)

// TestTrustedProxiesClient holds the rules of finding 6: behind trusted
// proxies the client is the rightmost X-Forwarded-For entry that is not a
// trusted proxy (the client writes the leftmost ones), and an IPv6 client is
// its /64.
func TestTrustedProxiesClient(t *testing.T) {
	proxies, err := web.ParseTrustedProxies([]string{"127.0.0.1", " 10.0.0.0/8", "2001:db8:ffff::/48", "192.168.1.7/24"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"untrusted peer: header ignored", "198.51.100.9", []string{"203.0.113.7"}, "198.51.100.9"},
		{"untrusted peer inside a trusted-looking header", "198.51.100.9", []string{"203.0.113.7, 127.0.0.1"}, "198.51.100.9"},
		{"trusted peer, no header", "127.0.0.1", nil, "127.0.0.1"},
		{"trusted peer, one entry", "127.0.0.1", []string{"203.0.113.7"}, "203.0.113.7"},
		{"spoofed leftmost entry", "127.0.0.1", []string{"198.51.100.1, 203.0.113.7"}, "203.0.113.7"},
		{"several spoofed entries", "127.0.0.1", []string{"1.1.1.1,2.2.2.2 ,  203.0.113.7"}, "203.0.113.7"},
		{"chain of trusted proxies", "127.0.0.1", []string{"198.51.100.1, 203.0.113.7, 10.0.0.5"}, "203.0.113.7"},
		{"trusted-looking spoof left of the client", "127.0.0.1", []string{"10.9.9.9, 203.0.113.7"}, "203.0.113.7"},
		{"every entry trusted", "127.0.0.1", []string{"10.0.0.7, 10.0.0.5"}, "10.0.0.7"},
		{"range written unmasked", "192.168.1.99", []string{"203.0.113.7"}, "203.0.113.7"},
		{"malformed rightmost entry", "127.0.0.1", []string{"203.0.113.7, nonsense"}, "127.0.0.1"},
		{"malformed entry behind a trusted hop", "127.0.0.1", []string{"203.0.113.7, unknown, 10.0.0.5"}, "10.0.0.5"},
		{"malformed spoof left of the client", "127.0.0.1", []string{"<script>, 203.0.113.7"}, "203.0.113.7"},
		{"empty rightmost entry", "127.0.0.1", []string{"203.0.113.7,"}, "127.0.0.1"},
		{"entry with a port", "127.0.0.1", []string{"203.0.113.7:4711"}, "203.0.113.7"},
		{"IPv6 entry with a port", "127.0.0.1", []string{"[2001:db8::1]:443"}, "2001:db8::"},
		{"several headers: the last is rightmost", "127.0.0.1", []string{"198.51.100.1", "203.0.113.7"}, "203.0.113.7"},
		{"several headers with a trusted hop", "127.0.0.1", []string{"198.51.100.1, 203.0.113.7", "10.0.0.5"}, "203.0.113.7"},
		{"IPv6 client counted per /64", "127.0.0.1", []string{"2001:db8::1"}, "2001:db8::"},
		{"another address of the same /64", "127.0.0.1", []string{"2001:db8::2:3:4:5"}, "2001:db8::"},
		{"a different /64", "127.0.0.1", []string{"2001:db8:0:1::1"}, "2001:db8:0:1::"},
		{"IPv6 with a zone", "127.0.0.1", []string{"fe80::1%eth0"}, "fe80::"},
		{"IPv4-mapped entry", "127.0.0.1", []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
		{"IPv4-mapped trusted peer", "::ffff:127.0.0.1", []string{"203.0.113.7"}, "203.0.113.7"},
		{"direct IPv6 peer per /64", "2001:db8:1:2:3:4:5:6", nil, "2001:db8:1:2::"},
		{"trusted IPv6 proxy", "2001:db8:ffff::1", []string{"203.0.113.7"}, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var xff [][]byte
			for _, h := range tt.xff {
				xff = append(xff, []byte(h))
			}
			if got := proxies.Client(netip.MustParseAddr(tt.peer), xff).String(); got != tt.want {
				t.Errorf("Client(%s, %q) = %s, want %s", tt.peer, tt.xff, got, tt.want)
			}
		})
	}
}

func TestParseTrustedProxiesRejects(t *testing.T) {
	for _, p := range []string{"nope", "10.0.0.0/33", "10.0.0.1/", ""} {
		t.Run(p, func(t *testing.T) {
			if _, err := web.ParseTrustedProxies([]string{p}); err == nil {
				t.Errorf("web.ParseTrustedProxies(%q) accepted it", p)
			}
		})
	}
}

// TestPerAddressLimitsBehindProxy sends recovery requests through a real
// loopback connection (one keep-alive connection, as from a proxy) from a
// proxy at 127.0.0.1, and checks which ones share the per-address limit.
// The cases of different clients also hold that one request's client is
// not taken for the next one's peer on the same connection.
func TestPerAddressLimitsBehindProxy(t *testing.T) {
	const limit, sent = 3, 6
	tests := []struct {
		name        string
		trusted     []string
		xff         func(i int) string
		wantLimited bool // from request limit+1 on
	}{
		{"rotating spoofed leftmost entry, one client", []string{"127.0.0.1"},
			func(i int) string { return fmt.Sprintf("198.51.100.%d, 203.0.113.7", i) }, true},
		{"rotating trusted-looking spoofs, one client", []string{"127.0.0.1", "10.0.0.0/8"},
			func(i int) string { return fmt.Sprintf("10.0.%d.1, 203.0.113.7, 10.0.0.5", i) }, true},
		{"addresses of one IPv6 /64", []string{"127.0.0.1"},
			func(i int) string { return fmt.Sprintf("198.51.100.%d, 2001:db8::%x", i, i+1) }, true},
		{"different clients", []string{"127.0.0.1"},
			func(i int) string { return fmt.Sprintf("203.0.113.7, 198.51.100.%d", i) }, false},
		{"different IPv6 /64s", []string{"127.0.0.1"},
			func(i int) string { return fmt.Sprintf("2001:db8:0:%x::1", i) }, false},
		{"untrusted peer: the header is ignored", nil,
			func(i int) string { return fmt.Sprintf("198.51.100.%d", i) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, func(o *app.Options) {
				o.TrustedProxies = tt.trusted
				o.School.Recovery.RequestsPerIPHour = limit
			})
			w := newWire(a)
			resp := w.send(a, http.MethodGet, "/", "", nil)
			tok, _ := doc(t, resp).Find(`input[name="_csrf"]`).First().Attr("value")
			for i := range sent {
				form := url.Values{csrfField: {tok}, "kind": {"password"}, "population": {"parents"},
					"input": {fmt.Sprintf("nobody%d@example.fr", i)}, "consent": {"yes"}}
				resp := w.send(a, http.MethodPost, paths.RecoveryRequest, "application/x-www-form-urlencoded",
					strings.NewReader(form.Encode()), "X-Forwarded-For", tt.xff(i))
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				limited := resp.StatusCode == http.StatusTooManyRequests
				if want := tt.wantLimited && i >= limit; limited != want {
					t.Fatalf("request %d (X-Forwarded-For: %s): status %d, want limited=%v", i+1, tt.xff(i), resp.StatusCode, want)
				}
			}
		})
	}
}
