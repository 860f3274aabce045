package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// TestActivationWizard walks « Activer mon compte » on a phone as a new
// teacher with the provisional password of the HR letter, with axe-core
// at every step.
func TestActivationWizard(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=../config.example.yaml", "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, "identifier,email,first_name,last_name,population,provisional_password\nS200,,Marie-Hélène,Dupont,staff,Prov-7731\n", env...)
	srv := startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...)
	b := newBrowser(t)

	step := func(n string) {
		t.Helper()
		b.run(t, waitVisible(`[data-testid="activation"][data-step="`+n+`"]`))
		b.axe(t, "activation step "+n)
		// On a phone the step bar names the current step (issue 16, item 11).
		if n != "done" && currentStepName(t, b) == "" {
			t.Errorf("step %s: the step bar does not show the current step's name", n)
		}
		if over := eval[bool](t, b, `document.documentElement.scrollWidth > window.innerWidth`); over {
			t.Errorf("step %s scrolls sideways on a phone", n)
		}
		b.screenshot(t, "activation-"+n)
	}
	submit := `main form:not(.restart) button[type=submit]`

	// From the login page, as the letter says.
	b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("h1"), click(`a[href="/activation"]`))
	step("start")
	b.run(t, sendKeys("#act-identifier", "S200"), sendKeys("#act-provisional", "Prov-7731"), click(submit))
	step("rescue")
	b.run(t, sendKeys("#act-rescue", "mh.dupont@example.org"), click(`form[action="/activation/rescue"] button`))
	b.run(t, waitVisible(`form[method=get] button`))
	b.axe(t, "activation link sent")

	// The mailed link, opened in the same browser: a button, then back.
	link := smtp.Wait("mh.dupont@example.org", 1, 10*time.Second).Links()[0]
	b.run(t, chromedp.Navigate(link), waitVisible(`form[action="/activation/confirm"] button`))
	b.axe(t, "activation confirm link")
	b.run(t, click(`form[action="/activation/confirm"] button`), waitVisible(`a[href="/activation"].btn`))
	b.run(t, click(`a[href="/activation"].btn`))
	step("charter")
	b.run(t, click("#act-charter"), click(submit))
	step("directory")
	b.run(t, click("#act-dir-no"), click(submit))
	step("redirect")
	b.run(t, click(submit)) // no redirection (optional for permanent staff)
	step("password")
	b.settled(t)
	typeNewPassword(t, b, "Une phrase de passe solide")
	b.run(t, click(submit))
	step("done")
	if sum := eval[string](t, b, `document.querySelector("dl.summary").textContent`); !strings.Contains(sum, "marie-helene.dupont@lycee-jean-moulin.example") {
		t.Errorf("summary = %q", sum)
	}
	b.noConsoleErrors(t)

	// Sign in with the new password.
	b.run(t, click(`a[href^="/login?identifier="]`), waitVisible("#password"),
		sendKeys("#password", "Une phrase de passe solide"), click(`form[action="/login"] button[type=submit]`),
		waitVisible(`[data-testid="account"]`))
}
