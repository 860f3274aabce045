package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/paths"
)

func TestLoginPageLanguage(t *testing.T) {
	tests := []struct {
		name, accept, wantLang, wantH1, wantSwitch string
	}{
		{"French by default", "", "fr", "Connexion", "English"},
		{"English when asked", "en-GB,en;q=0.9", "en", "Sign in", "Français"},
		{"French for an unsupported language", "de-DE", "fr", "Connexion", "English"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t)
			resp := a.get("/", "Accept-Language", tt.accept)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			d := doc(t, resp)
			if got, _ := d.Find("html").Attr("lang"); got != tt.wantLang {
				t.Errorf("lang = %q, want %q", got, tt.wantLang)
			}
			if got := d.Find("h1").Text(); got != tt.wantH1 {
				t.Errorf("h1 = %q, want %q", got, tt.wantH1)
			}
			if got := d.Find("nav.lang a").Text(); got != tt.wantSwitch {
				t.Errorf("language switch = %q, want %q", got, tt.wantSwitch)
			}
			form := d.Find(`form[action="/login"][method="post"]`)
			if form.Length() != 1 {
				t.Fatal("no real login form")
			}
			if ac, _ := form.Find("#identifier").Attr("autocomplete"); ac != "username" {
				t.Errorf("identifier autocomplete = %q", ac)
			}
			if ac, _ := form.Find("#password").Attr("autocomplete"); ac != "current-password" {
				t.Errorf("password autocomplete = %q", ac)
			}
			if d.Find(`a[href="/recovery"]`).Length() != 1 {
				t.Error("no forgotten-password link")
			}
		})
	}
}

func TestLanguageSwitch(t *testing.T) {
	a := newTestApp(t)
	tests := []struct{ next, wantLocation string }{
		{"/", "/"},
		{"/login?x=1", "/login?x=1"},
		{"//evil.example/", "/"},
		{"https://evil.example/", "/"},
		{"/\\evil.example", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			resp := a.get("/lang/en?next=" + url.QueryEscape(tt.next))
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.wantLocation {
				t.Fatalf("status %d location %q, want 303 %q", resp.StatusCode, resp.Header.Get("Location"), tt.wantLocation)
			}
		})
	}
	// The choice sticks even when the browser prefers French.
	d := doc(t, a.get("/", "Accept-Language", "fr-FR"))
	if got := d.Find("h1").Text(); got != "Sign in" {
		t.Errorf("after switching to English, h1 = %q", got)
	}
	if resp := a.get("/lang/de"); resp.StatusCode != 404 {
		t.Errorf("unsupported language: status %d", resp.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	a := newTestApp(t)
	resp := a.get("/")
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
		"Referrer-Policy":        "same-origin",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	var csrf *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "sesame_csrf" {
			csrf = c
		}
	}
	if csrf == nil || !csrf.HttpOnly || csrf.SameSite != http.SameSiteLaxMode {
		t.Errorf("CSRF cookie = %+v, want HttpOnly SameSite=Lax", csrf)
	}
}

func TestErrorPages(t *testing.T) {
	a := newTestApp(t)
	tests := []struct {
		name, method, path, accept string
		status                     int
		wantH1                     string
	}{
		{"404 French", "GET", "/nowhere", "", 404, "Page introuvable"},
		{"404 English", "GET", "/nowhere", "en", 404, "Page not found"},
		{"unexpected method", "DELETE", "/", "", 405, "Action non autorisée"},
		{"unexpected method English", "PUT", paths.Login, "en", 405, "Action not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.path, nil)
			req.Header.Set("Accept-Language", tt.accept)
			resp := a.do(req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := doc(t, resp).Find("h1").Text(); got != tt.wantH1 {
				t.Errorf("h1 = %q, want %q", got, tt.wantH1)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	a := newTestApp(t)
	tok := a.csrfToken("/")
	other := newTestApp(t)
	otherTok := other.csrfToken("/")
	tests := []struct {
		name    string
		form    url.Values
		headers []string
		want    int
	}{
		{"missing token", url.Values{"identifier": {"x"}}, nil, 403},
		{"token of another browser", url.Values{csrfField: {otherTok}}, nil, 403},
		{"cross-site request", url.Values{csrfField: {tok}}, []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"foreign origin", url.Values{csrfField: {tok}}, []string{"Origin", "https://evil.example"}, 403},
		// A valid token reaches the router; /nowhere then answers 404.
		{"valid token", url.Values{csrfField: {tok}}, []string{"Sec-Fetch-Site", "same-origin"}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.postForm("/nowhere", tt.form, tt.headers...)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 403 {
				if h1 := doc(t, resp).Find("h1").Text(); h1 != "Formulaire expiré" {
					t.Errorf("h1 = %q", h1)
				}
			}
		})
	}
	// A browser without the cookie cannot post at all.
	fresh := newTestApp(t)
	if resp := fresh.postForm("/nowhere", url.Values{csrfField: {tok}}); resp.StatusCode != 403 {
		t.Errorf("post without cookie: status %d", resp.StatusCode)
	}
}

func TestAssets(t *testing.T) {
	a := newTestApp(t)
	d := doc(t, a.get("/"))
	css, _ := d.Find(`link[rel="stylesheet"]`).First().Attr("href")
	if !strings.HasPrefix(css, "/assets/app.") || !strings.HasSuffix(css, ".css") {
		t.Fatalf("stylesheet URL %q is not fingerprinted", css)
	}
	// The themed sheet's brotli form is made in the background after
	// start; until it exists the sheet goes out gzipped, never raw.
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		resp = a.get(css, "Accept-Encoding", "gzip, deflate, br")
		enc := resp.Header.Get("Content-Encoding")
		if resp.StatusCode != 200 || (enc != "br" && enc != "gzip") {
			t.Fatalf("status %d encoding %q", resp.StatusCode, enc)
		}
		if enc == "br" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the style sheet is still not served in brotli 10 s after start")
		}
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("Cache-Control = %q", cc)
	}
	body, _ := io.ReadAll(a.get(css).Body)
	if !strings.Contains(string(body), "--primary:#0b6e4f") {
		t.Errorf("the style sheet lacks the school's colour")
	}
	if resp := a.get("/assets/app.css"); resp.StatusCode != 404 {
		t.Errorf("unfingerprinted asset: status %d", resp.StatusCode)
	}
}

func TestReadiness(t *testing.T) {
	a := newTestApp(t)
	if resp := a.get(paths.Readyz); resp.StatusCode != 200 {
		t.Fatalf("readyz status %d", resp.StatusCode)
	}
	a.store.down.Store(true)
	if resp := a.get(paths.Readyz); resp.StatusCode != 503 {
		t.Fatalf("readyz with the store down: status %d", resp.StatusCode)
	}
	if resp := a.get(paths.Healthz); resp.StatusCode != 200 {
		t.Errorf("healthz with the store down: status %d", resp.StatusCode)
	}
	a.store.down.Store(false)
	if resp := a.get(paths.Readyz); resp.StatusCode != 200 {
		t.Errorf("readyz after the store came back: status %d", resp.StatusCode)
	}
}

func TestPrivacyPage(t *testing.T) {
	a := newTestApp(t)
	for _, tt := range []struct{ accept, h1, must string }{
		{"fr", "Vos données personnelles", "400 jours"},
		{"en", "Your personal data", "400 days"},
	} {
		d := doc(t, a.get(paths.Privacy, "Accept-Language", tt.accept))
		if got := d.Find("h1").Text(); got != tt.h1 || !strings.Contains(d.Text(), tt.must) {
			t.Errorf("%s: h1 %q", tt.accept, got)
		}
	}
	// Every page links to it, and so does the consent of the recovery form.
	if d := doc(t, a.get("/")); d.Find(`footer a[href="/privacy"]`).Length() != 1 {
		t.Error("the footer does not link to the privacy notice")
	}
	if d := doc(t, a.get("/recovery?population=parents")); d.Find(`#rec-consent-text a[href="/privacy"]`).Length() != 1 {
		t.Error("the consent text does not link to the privacy notice")
	}
}
