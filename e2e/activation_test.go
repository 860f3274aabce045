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
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=../config.example.yaml", "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, "identifier,email,first_name,last_name,population,provisional_password\nS200,,Marie-Hélène,Dupont,staff,Prov-7731\n", env...)
	srv := startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...)
	b := newBrowser(t)

	step := func(n string) {
		t.Helper()
		b.run(t, chromedp.WaitVisible(`[data-testid="activation"][data-step="`+n+`"]`))
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
	b.run(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("h1"), chromedp.Click(`a[href="/activation"]`))
	step("start")
	b.run(t, chromedp.SendKeys("#act-identifier", "S200"), chromedp.SendKeys("#act-provisional", "Prov-7731"), chromedp.Click(submit))
	step("rescue")
	b.run(t, chromedp.SendKeys("#act-rescue", "mh.dupont@example.org"), chromedp.Click(`form[action="/activation/rescue"] button`))
	b.run(t, chromedp.WaitVisible(`form[method=get] button`))
	b.axe(t, "activation link sent")

	// The mailed link, opened in the same browser: a button, then back.
	link := smtp.Wait("mh.dupont@example.org", 1, 10*time.Second).Links()[0]
	b.run(t, chromedp.Navigate(link), chromedp.WaitVisible(`form[action="/activation/confirm"] button`))
	b.axe(t, "activation confirm link")
	b.run(t, chromedp.Click(`form[action="/activation/confirm"] button`), chromedp.WaitVisible(`a[href="/activation"].btn`))
	b.run(t, chromedp.Click(`a[href="/activation"].btn`))
	step("charter")
	b.run(t, chromedp.Click("#act-charter"), chromedp.Click(submit))
	step("directory")
	b.run(t, chromedp.Click("#act-dir-no"), chromedp.Click(submit))
	step("redirect")
	b.run(t, chromedp.Click(submit)) // no redirection (optional for permanent staff)
	step("password")
	b.settled(t)
	b.run(t, chromedp.SendKeys("#new-password", "Une phrase de passe solide"))
	b.run(t, chromedp.Poll[chromedp.Void](`document.querySelectorAll("#pw-rules li[data-met=true]").length === document.querySelectorAll("#pw-rules li").length`, chromedp.WithPollingTimeout(10*time.Second)))
	b.settled(t)
	b.run(t, chromedp.SendKeys("#confirm-password", "Une phrase de passe solide"), chromedp.WaitVisible(`[data-testid="match"].met`))
	b.settled(t)
	b.run(t, chromedp.Click(submit))
	step("done")
	if sum := eval[string](t, b, `document.querySelector("dl.summary").textContent`); !strings.Contains(sum, "marie-helene.dupont@lycee-jean-moulin.example") {
		t.Errorf("summary = %q", sum)
	}
	b.noConsoleErrors(t)

	// Sign in with the new password.
	b.run(t, chromedp.Click(`a[href^="/login?identifier="]`), chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#password", "Une phrase de passe solide"), chromedp.Click(`form[action="/login"] button[type=submit]`),
		chromedp.WaitVisible(`[data-testid="account"]`))
}
