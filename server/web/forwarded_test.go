package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/paths"
)

// TestForwardedHostNotBelieved holds finding 15(a): Fiber believes
// X-Forwarded-Host and X-Forwarded-Proto from anyone unless told which
// proxies to trust, and the CSRF check compared Origin with that host. The
// public origin is SESAME_BASE_URL's (http://sesame.test here).
func TestForwardedHostNotBelieved(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		headers []string
		want    int // 403: refused by the CSRF check; 404: passed it
	}{
		{"forged X-Forwarded-Host matching a foreign Origin", nil,
			[]string{"Origin", "https://evil.example", "X-Forwarded-Host", "evil.example"}, 403},
		{"forged X-Forwarded-Host and X-Forwarded-Proto", nil,
			[]string{"Origin", "https://evil.example", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}, 403},
		{"forged X-Forwarded-Host from a trusted proxy", []string{"0.0.0.0"},
			[]string{"Origin", "https://evil.example", "X-Forwarded-Host", "evil.example"}, 403},
		{"foreign Origin", nil, []string{"Origin", "https://evil.example"}, 403},
		{"SESAME_BASE_URL's origin, whatever the Host", nil, []string{"Origin", "http://sesame.test"}, 404},
		{"SESAME_BASE_URL's host with another scheme", nil, []string{"Origin", "https://sesame.test"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, func(o *app.Options) { o.TrustedProxies = tt.trusted })
			tok := a.csrfToken("/")
			resp := a.postForm("/nowhere", url.Values{csrfField: {tok}}, tt.headers...)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestMailLinksIgnoreRequestHost checks that a recovery mail's links are
// built from SESAME_BASE_URL, whatever Host and X-Forwarded-* the request
// that asked for it carried.
func TestMailLinksIgnoreRequestHost(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	form := url.Values{csrfField: {a.csrfToken("/")}, "kind": {"password"}, "population": {"parents"}, "input": {"P001"}, "consent": {"yes"}}
	req := httptest.NewRequest(http.MethodPost, paths.RecoveryRequest, strings.NewReader(form.Encode()))
	req.Host = "evil.example"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Forwarded", "host=evil.example;proto=https")
	if resp := a.do(req); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("step 1: status %d", resp.StatusCode)
	}
	m := a.smtp.Wait(anneMail, 1, 5*time.Second)
	links := m.Links()
	if len(links) == 0 {
		t.Fatalf("the mail has no link:\n%s", m.Text)
	}
	for _, l := range links {
		if !strings.HasPrefix(l, "http://sesame.test/") {
			t.Errorf("link %q is not built from SESAME_BASE_URL", l)
		}
	}
	if strings.Contains(m.Text+m.HTML, "evil.example") {
		t.Error("the mail names the request's host")
	}
}
