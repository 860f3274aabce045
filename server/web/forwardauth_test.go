package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/paths"
)

// traefik is the header set Traefik's (and Caddy's) forward-auth sends
// for a request to rawURL.
func traefik(method, rawURL string) []string {
	u, _ := url.Parse(rawURL)
	return []string{"X-Forwarded-Method", method, "X-Forwarded-Proto", u.Scheme, "X-Forwarded-Host", u.Host,
		"X-Forwarded-Uri", u.RequestURI(), "X-Forwarded-For", "203.0.113.7"}
}

// nginx is the header set of nginx's auth_request, as the README's
// configuration sends it.
func nginx(method, rawURL string) []string {
	return []string{"X-Original-Method", method, "X-Original-URL", rawURL, "X-Forwarded-For", "203.0.113.7"}
}

// TestForwardAuth: signed out, Traefik gets a redirect to Sésame's sign-in
// that comes back to the original page and nginx a 401; signed in, both get
// 200 and the person's headers; hosts that are not configured get 403 and
// never a redirect.
func TestForwardAuth(t *testing.T) {
	a := newTestApp(t, withCAS())
	a.seed()
	in := a.browser()
	in.signIn("P001", annePassword)
	out := a.browser()
	const page = "http://cdi.sesame.test/catalogue?q=Hugo&page=2"

	tests := []struct {
		name         string
		b            *testApp
		path         string
		headers      []string
		wantStatus   int
		wantLocation string // signed out: the sign-in page's continue= target
	}{
		{"traefik signed out", out, paths.ForwardAuth, traefik("GET", page), http.StatusFound, page},
		{"traefik signed out, a form's POST", out, paths.ForwardAuth, traefik("POST", page), http.StatusSeeOther, page},
		{"traefik signed in", in, paths.ForwardAuth, traefik("GET", page), http.StatusOK, ""},
		{"nginx signed out", out, paths.AuthRequest, nginx("GET", page), http.StatusUnauthorized, page},
		{"nginx signed in", in, paths.AuthRequest, nginx("GET", page), http.StatusOK, ""},
		// Not configured: refused, signed in or not, and never redirected.
		{"traefik, another host", out, paths.ForwardAuth, traefik("GET", "https://attacker.example/x"), http.StatusForbidden, ""},
		{"traefik, another host, signed in", in, paths.ForwardAuth, traefik("GET", "https://intranet.sesame.test/"), http.StatusForbidden, ""},
		{"traefik, lookalike host", out, paths.ForwardAuth, traefik("GET", "https://cdi.sesame.test.attacker.example/"), http.StatusForbidden, ""},
		{"traefik, user info before a host", out, paths.ForwardAuth,
			[]string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "cdi.sesame.test@attacker.example", "X-Forwarded-Uri", "/"}, http.StatusForbidden, ""},
		{"traefik, a port", out, paths.ForwardAuth, traefik("GET", "https://cdi.sesame.test:8443/"), http.StatusForbidden, ""},
		{"traefik, no host", out, paths.ForwardAuth, []string{"X-Forwarded-Uri", "/"}, http.StatusForbidden, ""},
		{"nginx, another host", in, paths.AuthRequest, nginx("GET", "https://attacker.example/"), http.StatusForbidden, ""},
		{"nginx, no URL", in, paths.AuthRequest, nil, http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.b.get(tt.path, tt.headers...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			loc := resp.Header.Get("Location")
			if tt.wantLocation == "" {
				if loc != "" {
					t.Errorf("redirected to %q", loc)
				}
			} else {
				u, err := url.Parse(loc)
				if err != nil || u.Scheme+"://"+u.Host != "http://sesame.test" || u.Path != paths.Login || u.Query().Get("continue") != tt.wantLocation {
					t.Errorf("Location %q, want Sésame's sign-in continuing to %q", loc, tt.wantLocation)
				}
			}
			wantUser := ""
			if tt.wantStatus == http.StatusOK {
				wantUser = "P001"
				if got := resp.Header.Get("Remote-Name"); got != "Anne Durand" {
					t.Errorf("Remote-Name %q", got)
				}
				if got := resp.Header.Get("Remote-Email"); got != anneMail {
					t.Errorf("Remote-Email %q", got)
				}
				if got := resp.Header.Get("Remote-Groups"); got != "parents" {
					t.Errorf("Remote-Groups %q", got)
				}
			}
			if got := resp.Header.Get("Remote-User"); got != wantUser {
				t.Errorf("Remote-User %q, want %q", got, wantUser)
			}
		})
	}
}

// TestForwardAuthRoundTrip: the redirect forward-auth gives leads, after
// sign-in, back to the protected page — and a sign-in page asked to go
// anywhere else goes to the person's own page instead.
func TestForwardAuthRoundTrip(t *testing.T) {
	a := newTestApp(t, withCAS())
	a.seed()
	const page = "http://cdi.sesame.test/catalogue?q=Hugo"
	for _, tt := range []struct{ to, want string }{
		{page, page},
		{"http://intranet.sesame.test/", paths.Account},
		{"https://attacker.example/", paths.Account},
		{"//attacker.example/", paths.Account},
		{"http://cdi.sesame.test.attacker.example/", paths.Account},
		{"http://cdi.sesame.test:8080/", paths.Account},
		{"javascript:alert(1)", paths.Account},
	} {
		b := a.browser()
		loc := page
		if tt.to == page {
			resp := b.get(paths.ForwardAuth, traefik("GET", page)...)
			u, _ := url.Parse(resp.Header.Get("Location"))
			loc = u.RequestURI()
		} else {
			loc = paths.Login + "?continue=" + url.QueryEscape(tt.to)
		}
		b.get(loc)
		if got := b.signIn("P001", annePassword).Header.Get("Location"); got != tt.want {
			t.Errorf("continue %q: after sign-in went to %q, want %q", tt.to, got, tt.want)
		}
		// Back at the proxy, the same browser's cookie now passes.
		if tt.to == page {
			if resp := b.get(paths.ForwardAuth, traefik("GET", page)...); resp.StatusCode != http.StatusOK {
				t.Errorf("after sign-in forward-auth answered %d", resp.StatusCode)
			}
		}
	}
}

// TestForwardAuthOnlyFromTrustedProxies: headers describing the original
// request are believed only from SESAME_TRUSTED_PROXIES.
func TestForwardAuthOnlyFromTrustedProxies(t *testing.T) {
	a := newTestApp(t, withCAS(), func(o *app.Options) { o.TrustedProxies = []string{"192.0.2.10"} })
	a.ip = ""
	a.seed()
	for _, tt := range []struct {
		path    string
		headers []string
	}{
		{paths.ForwardAuth, traefik("GET", "http://cdi.sesame.test/")},
		{paths.AuthRequest, nginx("GET", "http://cdi.sesame.test/")},
	} {
		resp := a.get(tt.path, tt.headers...)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Errorf("%s from an untrusted peer: %d %q", tt.path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestForwardAuthHeadersCarryNoControls: a name holding a line break
// cannot split the proxy's request.
func TestForwardAuthHeadersCarryNoControls(t *testing.T) {
	a := newTestApp(t, withCAS())
	a.seed()
	a.seedGolden()
	b := a.browser()
	b.signIn("P001", annePassword)
	resp := b.get(paths.AuthRequest, nginx("GET", "http://cdi.sesame.test/")...)
	if got := resp.Header.Get("Remote-Name"); got != "Anne Durand <& Fils>" || strings.ContainsAny(got, "\r\n") {
		t.Errorf("Remote-Name %q", got)
	}
}
