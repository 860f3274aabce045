package e2e

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// testApp is a school's application signing its people in with Sésame:
// an unchanged OpenID Connect client (go-oidc, x/oauth2, code + PKCE)
// that greets the person by the name in the verified ID token.
type testApp struct {
	*httptest.Server
	mu       sync.Mutex
	issuer   string
	verifier map[string]string // state → PKCE verifier
}

func newTestApp(t *testing.T) *testApp {
	a := &testApp{verifier: map[string]string{}}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *testApp) config(ctx context.Context) (*gooidc.Provider, oauth2.Config, error) {
	p, err := gooidc.NewProvider(ctx, a.issuer)
	if err != nil {
		return nil, oauth2.Config{}, err
	}
	return p, oauth2.Config{ClientID: "portail", RedirectURL: a.URL + "/cb", Endpoint: p.Endpoint(),
		Scopes: []string{gooidc.ScopeOpenID, "profile"}}, nil
}

func (a *testApp) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, cfg, err := a.config(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	switch r.URL.Path {
	case "/":
		state, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		a.mu.Lock()
		a.verifier[state] = verifier
		a.mu.Unlock()
		http.Redirect(w, r, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
	case "/cb":
		a.mu.Lock()
		verifier, ok := a.verifier[r.FormValue("state")]
		delete(a.verifier, r.FormValue("state"))
		a.mu.Unlock()
		if !ok {
			http.Error(w, "unknown state", http.StatusBadRequest)
			return
		}
		tok, err := cfg.Exchange(ctx, r.FormValue("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		id, err := p.Verifier(&gooidc.Config{ClientID: "portail"}).Verify(ctx, raw)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var c struct {
			Name string `json:"name"`
		}
		_ = id.Claims(&c)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Portail des familles</title><link rel="icon" href="data:,"></head>
<body><main><h1 data-testid="greeting">Bonjour %s</h1></main></body></html>`, html.EscapeString(c.Name))
	case "/bye":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Portail des familles</title><link rel="icon" href="data:,"></head>
<body><main><h1 data-testid="bye">Au revoir</h1></main></body></html>`)
	default:
		http.NotFound(w, r)
	}
}

// TestOIDCSignInWithRecovery: a person who forgot their password arrives
// from the school's application, recovers it in Sésame's dialog with the
// code from the real mail, signs in with the new one and lands back in the
// application, which greets them by name; axe finds nothing at any step.
func TestOIDCSignInWithRecovery(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t)
	app := newTestApp(t)
	example, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "school.yaml")
	clients := fmt.Sprintf(`
clients:
  - id: portail
    name: { fr: "Portail des familles", en: "Family portal" }
    protocol: oidc
    redirect_uris: ["%s/cb"]
    post_logout_redirect_uris: ["%s/bye"]
    populations: [parents]
`, app.URL, app.URL)
	if err := os.WriteFile(config, append(example, clients...), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=" + config, "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, "identifier,email,first_name,last_name,population,password\nP003,leo.martin@example.fr,Léo,Martin,parents,Ancien-mdp-2024\n", env...)
	srv := startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...)
	app.issuer = srv.URL
	b := newBrowser(t)

	// The application sends the person to Sésame's sign-in page, titled
	// with its name.
	b.run(t, chromedp.Navigate(app.URL+"/"), waitVisible(`[data-testid="login"] h1`))
	if h1 := eval[string](t, b, `document.querySelector("h1").textContent`); strings.TrimSpace(h1) != "Connexion à Portail des familles" {
		t.Errorf("h1 = %q", h1)
	}
	b.noConsoleErrors(t)
	b.axe(t, "sign-in for the application")
	b.screenshot(t, "oidc-0-sign-in")

	// « Mot de passe oublié ? » opens the recovery dialog.
	b.run(t, click(`[data-testid="forgot-password"]`))
	b.waitStep(t, "choose")
	b.axe(t, "recovery chooser from the application")
	b.run(t, click(`#recovery-step a.choice[href*="population=parents"]`))
	b.waitStep(t, "request")
	b.run(t, sendKeys("#rec-input", "P003"), click("#rec-consent"), click(`#recovery-step button[type=submit]`))
	b.waitStep(t, "code")
	b.axe(t, "recovery code from the application")
	code := smtp.Wait("leo.martin@example.fr", 1, 10*time.Second).Code()
	if code == "" {
		t.Fatal("no code in the mail")
	}
	b.run(t, sendKeys("#rec-code", code), click(`#recovery-step form[action="/recovery/code"] button[type=submit]`))
	b.waitStep(t, "password")
	const newPassword = "Trois chats sur le toit 42"
	b.run(t, sendKeys("#new-password", newPassword))
	b.settled(t)
	b.run(t, sendKeys("#confirm-password", newPassword))
	b.run(t, waitVisible(`[data-testid="match"].met`))
	b.settled(t)
	b.axe(t, "recovery new password from the application")
	b.run(t, click(`#recovery-step form[action="/recovery/password"] button[type=submit]`))
	b.waitStep(t, "done")
	b.axe(t, "recovery done from the application")
	b.screenshot(t, "oidc-1-recovered")

	// « Continuer »: the sign-in page, still the application's. The dialog
	// sits on that same sign-in page: wait for the page the link loads, or
	// the checks and the typing below go to the page being left.
	b.run(t, clickToPage(`[data-close-dialog]`, `[data-testid="login"]`))
	if h1 := eval[string](t, b, `document.querySelector("h1").textContent`); strings.TrimSpace(h1) != "Connexion à Portail des familles" {
		t.Errorf("after recovery, h1 = %q", h1)
	}
	b.axe(t, "sign-in after recovery")
	b.run(t, setValue("#identifier", "P003"), sendKeys("#password", newPassword),
		click(`[data-testid="login"] button[type=submit]`))

	// Back in the application, signed in, greeted by name.
	b.run(t, waitVisible(`[data-testid="greeting"]`))
	if got := eval[string](t, b, `location.origin`); got != app.URL {
		t.Errorf("ended on %s, want the application %s", got, app.URL)
	}
	if h1 := eval[string](t, b, `document.querySelector("h1").textContent`); h1 != "Bonjour Léo Martin" {
		t.Errorf("the application shows %q", h1)
	}
	b.noConsoleErrors(t)
	b.axe(t, "back in the application")
	b.screenshot(t, "oidc-2-back-in-the-application")

	// Single sign-on: going through the application again asks nothing.
	b.run(t, chromedp.Navigate(app.URL+"/"), waitVisible(`[data-testid="greeting"]`))

	// The application signs the person out without an id_token_hint:
	// Sésame asks before ending its own session.
	bye := url.Values{"client_id": {"portail"}, "post_logout_redirect_uri": {app.URL + "/bye"}}
	b.run(t, chromedp.Navigate(srv.URL+"/oidc/end_session?"+bye.Encode()), waitVisible(`[data-testid="oidc-end-session"]`))
	if h1 := eval[string](t, b, `document.querySelector("h1").textContent`); strings.TrimSpace(h1) != "Vous déconnecter de Sésame ?" {
		t.Errorf("end_session without a hint shows %q", h1)
	}
	b.noConsoleErrors(t)
	b.axe(t, "sign out of Sésame?")
	b.screenshot(t, "oidc-3-sign-out-question")
	b.run(t, click(`[data-testid="oidc-end-session-confirm"]`), waitVisible(`[data-testid="bye"]`))
	// Signed out of Sésame: the application's next sign-in asks again.
	b.run(t, chromedp.Navigate(app.URL+"/"), waitVisible(`[data-testid="login"]`))
}
