package e2e

import (
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// casApp is a small CAS application served by the test: it sends a
// visitor without a ticket to Sésame's /cas/login, and validates a ticket
// at /cas/p3/serviceValidate from its own side, as Pronote does.
type casApp struct {
	URL    string
	sesame string
}

var casUserRE = regexp.MustCompile(`<cas:user>([^<]*)</cas:user>`)
var casPrenomRE = regexp.MustCompile(`<cas:prenom>([^<]*)</cas:prenom>`)

func startCASApp(t *testing.T) *casApp {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &casApp{URL: fmt.Sprintf("http://%s/", l.Addr())}
	page := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Application de test</title></head><body><main><h1>Application de test</h1>%s</main></body></html>`, body)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ticket := r.URL.Query().Get("ticket")
		if ticket == "" {
			http.Redirect(w, r, a.sesame+"/cas/login?service="+url.QueryEscape(a.URL), http.StatusFound)
			return
		}
		q := url.Values{"ticket": {ticket}, "service": {a.URL}}
		resp, err := http.Get(a.sesame + "/cas/p3/serviceValidate?" + q.Encode())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		user, prenom := casUserRE.FindSubmatch(b), casPrenomRE.FindSubmatch(b)
		if user == nil || prenom == nil {
			page(w, `<p data-testid="refused">Refusé : `+html.EscapeString(string(b))+`</p>`)
			return
		}
		page(w, fmt.Sprintf(`<p data-testid="welcome">Bonjour %s (%s)</p>`, html.EscapeString(string(prenom[1])), html.EscapeString(string(user[1]))))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return a
}

// TestCASLoginRoundTrip: a CAS application sends a phone to Sésame's
// sign-in, titled with its name; after the password the person is back in
// the application, signed in with the attributes of its profile; a second
// visit passes straight through (single sign-on). axe finds nothing at
// each of Sésame's steps.
func TestCASLoginRoundTrip(t *testing.T) {
	t.Parallel()
	app := startCASApp(t)
	dir := t.TempDir()
	example, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "school.yaml")
	clientsYAML := fmt.Sprintf(`
clients:
  - id: appli
    name: { fr: "Application de test", en: "Test application" }
    protocol: cas
    service: "%s*"
    attributes: pronote
`, app.URL)
	if err := os.WriteFile(config, append(example, clientsYAML...), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=" + config}
	importAccounts(t, dataDir, "identifier,email,first_name,last_name,population,password\nP003,leo.martin@example.fr,Léo,Martin,parents,Ancien-mdp-2024\n", env...)
	srv := startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...)
	app.sesame = srv.URL

	b := newBrowser(t)
	b.run(t, chromedp.Navigate(app.URL), waitVisible("#identifier"))
	if h1 := eval[string](t, b, `document.querySelector("h1").textContent`); h1 != "Connexion à Application de test" {
		t.Errorf("sign-in h1 = %q", h1)
	}
	b.noConsoleErrors(t)
	b.axe(t, "CAS sign-in")
	b.screenshot(t, "cas-sign-in")

	b.run(t, sendKeys("#identifier", "P003"), sendKeys("#password", "Ancien-mdp-2024"),
		click(`form[action="/login"] button[type=submit]`),
		waitVisible(`[data-testid="welcome"]`))
	if got := eval[string](t, b, `document.querySelector("[data-testid=welcome]").textContent`); got != "Bonjour Léo (P003)" {
		t.Errorf("back in the application: %q", got)
	}
	if u := eval[string](t, b, `location.href`); !strings.HasPrefix(u, app.URL+"?ticket=ST-") {
		t.Errorf("application URL %q", u)
	}
	b.axe(t, "back in the CAS application")

	// Single sign-on: the next visit goes through without the form.
	b.run(t, chromedp.Navigate(app.URL), waitVisible(`[data-testid="welcome"]`))
	b.screenshot(t, "cas-back-in-app")
}
