package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/school"
	"github.com/sesame-edu/sesame/server/web"
)

// withClients declares the applications of the tests' school: a family
// portal for parents, and forward-auth for the library's catalogue.
func withClients(o *app.Options) {
	sc := *o.School
	sc.Clients = []clients.Client{{
		ID: "portail", Name: map[string]string{"fr": "Portail des familles", "en": "Family portal"},
		Protocol: clients.OIDC, RedirectURIs: []string{"http://localhost:9000/cb"}, Populations: []string{"parents"},
	}}
	sc.ForwardAuth = clients.ForwardAuth{CookieDomain: "sesame.test", Hosts: []string{"cdi.sesame.test"}}
	o.School = &sc
}

// TestSignInContinues: an application's sign-in page carries its name,
// and after sign-in (at once, or after a detour through recovery) the
// person lands where the application asked, never anywhere else.
func TestSignInContinues(t *testing.T) {
	a := newTestApp(t, withClients)
	a.seed()
	tests := []struct {
		name, client, to  string
		wantHeading, lang string
		wantAfter         string
	}{
		{"application", "portail", "/after?x=1", "Connexion à Portail des familles", "fr", "/after?x=1"},
		{"application in English", "portail", "/after", "Sign in to Family portal", "en", "/after"},
		{"unknown application: plain title", "nope", "/after", "Connexion", "fr", "/after"},
		{"forward-auth host", "", "http://cdi.sesame.test/catalogue", "Connexion", "fr", "http://cdi.sesame.test/catalogue"},
		{"another site", "portail", "https://attacker.example/", "Connexion", "fr", paths.Account},
		{"protocol-relative", "portail", "//attacker.example/", "Connexion", "fr", paths.Account},
		{"lookalike host", "", "http://cdi.sesame.test.attacker.example/", "Connexion", "fr", paths.Account},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := a.browser()
			page := web.SignInURL(tt.client, tt.to, false)
			d := doc(t, b.get(page, "Accept-Language", tt.lang))
			if h := strings.TrimSpace(d.Find("h1").First().Text()); h != tt.wantHeading {
				t.Errorf("heading %q, want %q", h, tt.wantHeading)
			}
			// The recovery dialog's detour: other pages in between keep
			// where the person was going.
			b.get(paths.Recovery)
			resp := b.signIn("P003", annePassword)
			if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != tt.wantAfter {
				t.Fatalf("after sign-in: %d %q, want %q", resp.StatusCode, got, tt.wantAfter)
			}
			// Used once: the next sign-in goes to the person's page.
			b.postForm(paths.Logout, url.Values{csrfField: {b.csrfToken(paths.Account)}})
			if got := b.signIn("P003", annePassword).Header.Get("Location"); got != paths.Account {
				t.Errorf("second sign-in went to %q", got)
			}
		})
	}
}

// TestSignedInPassesThrough is single sign-on: a person already signed in
// goes straight on, unless the application asks for the password again.
func TestSignedInPassesThrough(t *testing.T) {
	a := newTestApp(t, withClients)
	a.seed()
	b := a.browser()
	b.signIn("P003", annePassword)
	resp := b.get(web.SignInURL("portail", "/after", false))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/after" {
		t.Fatalf("signed in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = b.get(web.SignInURL("portail", "/after", true))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("force: %d, want the sign-in form", resp.StatusCode)
	}
	if got := b.signIn("P003", annePassword).Header.Get("Location"); got != "/after" {
		t.Errorf("after forced sign-in: %q", got)
	}
}

// TestSessionCookieReachesForwardAuthHosts: with forward-auth, the session
// cookie is scoped to the configured domain.
func TestSessionCookieReachesForwardAuthHosts(t *testing.T) {
	a := newTestApp(t, withClients)
	a.seed()
	var got *http.Cookie
	for _, c := range a.browser().signIn("P003", annePassword).Cookies() {
		if c.Name == "sesame_session" {
			got = c
		}
	}
	if got == nil || got.Domain != "sesame.test" || !got.HttpOnly {
		t.Fatalf("session cookie = %+v", got)
	}
}

// TestCookieDomainMustHoldSesame: a cookie domain that does not contain
// Sésame's own host is a configuration error, not a silent failure.
func TestCookieDomainMustHoldSesame(t *testing.T) {
	base, _ := url.Parse("https://sesame.other.example")
	sc := school.Default()
	sc.ForwardAuth = clients.ForwardAuth{CookieDomain: "lycee.example", Hosts: []string{"cdi.lycee.example"}}
	_, err := app.New(app.Options{School: sc, BaseURL: base})
	if err == nil || !strings.Contains(err.Error(), "cookie_domain") {
		t.Fatalf("err = %v", err)
	}
}

// TestActivationContinuesToTheApplication: a newcomer sent to Sésame by an
// application activates their account from its sign-in page (the detour
// through the wizard, its mailed link opened on a phone) and, signing in
// at the end, lands where the application asked.
func TestActivationContinuesToTheApplication(t *testing.T) {
	a := newTestApp(t, withClients)
	a.seed()
	a.seedStaff()
	b := a.browser()
	b.get(web.SignInURL("portail", "/after?from=portal", false))
	for _, st := range []struct {
		path string
		form url.Values
		want string
	}{
		{paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {provisional}}, "rescue"},
		{paths.ActivationRescue, url.Values{"email": {"mh.dupont@example.org"}}, "rescue"},
	} {
		if _, d := b.act(st.path, st.form); stepNum(d) != st.want {
			t.Fatalf("%s: step %s, want %s", st.path, stepNum(d), st.want)
		}
	}
	a.confirmLink(t, "mh.dupont@example.org", 1)
	const pw = "Une phrase de passe solide"
	var d *goquery.Document
	for _, st := range []struct {
		path string
		form url.Values
	}{
		{paths.ActivationCharter, url.Values{"accept": {"yes"}}},
		{paths.ActivationDirectory, url.Values{"choice": {"no"}}},
		{paths.ActivationRedirect, url.Values{"to": {""}}},
		{paths.ActivationPassword, url.Values{"password": {pw}, "confirm": {pw}}},
	} {
		_, d = b.act(st.path, st.form)
	}
	if stepNum(d) != "done" {
		t.Fatalf("after the wizard: step %s: %s", stepNum(d), d.Find("main").Text())
	}
	if _, ok := d.Find(`a[href^="/login?identifier="]`).Attr("href"); !ok {
		t.Fatal("the summary offers no sign-in")
	}
	resp := b.signIn("S200", pw)
	if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != "/after?from=portal" {
		t.Errorf("sign-in after the activation: %d to %q, want the application's /after?from=portal", resp.StatusCode, got)
	}
}
