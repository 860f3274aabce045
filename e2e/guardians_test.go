package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// TestGuardianStudentRecovery walks a student's path on a phone: a student
// with no address of their own asks for a code, it reaches their guardian's
// mailbox, and the student types it on the phone and chooses a new password
// under the students' rules. axe-core finds nothing at any step.
func TestGuardianStudentRecovery(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=../config.example.yaml", "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, "identifier,email,first_name,last_name,population,password,guardians\n"+
		"P010,claire.roux@example.fr,Claire,Roux,parents,Ancien-mdp-2024,\n"+
		"E610,,Jules,Roux,students,Ancien2024,P010\n", env...)
	srv := startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...)
	b := newBrowser(t)
	// A student's Android phone, as the guardian's mail will say.
	b.run(t, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
			UserAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"})
		return err
	}))

	b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("h1"))
	b.run(t, click(`[data-testid="forgot-password"]`))
	b.waitStep(t, "choose")
	b.run(t, click(`#recovery-step a.choice[href*="population=students"]`))
	b.waitStep(t, "request")
	b.run(t, sendKeys("#rec-input", "E610"), click("#rec-consent"), click(`#recovery-step button[type=submit]`))
	b.waitStep(t, "code")
	// The same words as for anyone: no sign of who receives the code.
	if txt := eval[string](t, b, `document.querySelector("#recovery-step").textContent`); !strings.Contains(txt, "Si un compte correspond, un code vous a été envoyé.") {
		t.Errorf("step 2 says %q", txt)
	}
	b.axe(t, "student step 2")
	b.screenshot(t, "guardian-student-2-code")

	m := smtp.Wait("claire.roux@example.fr", 1, 10*time.Second)
	if !strings.Contains(m.Text, "Jules Roux") || !strings.Contains(m.Text, "un téléphone") || m.Code() == "" {
		t.Fatalf("the guardian's mail:\n%s", m.Text)
	}
	b.run(t, sendKeys("#rec-code", m.Code()), click(`#recovery-step form[action="/recovery/code"] button[type=submit]`))
	b.waitStep(t, "password")
	b.run(t, sendKeys("#new-password", "Chat42Lune"))
	b.run(t, waitAllRulesMet())
	b.settled(t)
	b.run(t, sendKeys("#confirm-password", "Chat42Lune"))
	b.run(t, waitVisible(`[data-testid="match"].met`))
	b.settled(t)
	b.axe(t, "student step 3")
	b.screenshot(t, "guardian-student-3-password")
	b.run(t, click(`#recovery-step form[action="/recovery/password"] button[type=submit]`))
	b.waitStep(t, "done")
	if txt := eval[string](t, b, `document.querySelector("[data-testid=recovery-done]").textContent`); !strings.Contains(txt, "E610") {
		t.Errorf("done message = %q", txt)
	}
	b.axe(t, "student done")
	b.screenshot(t, "guardian-student-4-done")
	b.noConsoleErrors(t)

	// The guardian, on their own phone, sees « Mes enfants » and sets the
	// child's password again from there.
	g := newBrowser(t)
	g.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("#identifier"),
		sendKeys("#identifier", "P010"), sendKeys("#password", "Ancien-mdp-2024"),
		click(`form[action="/login"] button[type=submit]`),
		waitVisible(`[data-testid="children"]`))
	g.settled(t)
	g.axe(t, "guardian account page")
	g.screenshot(t, "guardian-children")
	g.run(t, click(`[data-testid="children"] a`), waitVisible(`[data-testid="child-password"]`))
	g.settled(t)
	g.run(t, sendKeys("#cp-current", "Ancien-mdp-2024"), sendKeys("#new-password", "Soleil7Mars"))
	g.run(t, waitAllRulesMet())
	g.settled(t)
	g.run(t, sendKeys("#confirm-password", "Soleil7Mars"), waitVisible(`[data-testid="match"].met`))
	g.settled(t)
	g.axe(t, "child password form")
	g.screenshot(t, "guardian-child-password")
	g.run(t, click(`[data-testid="child-password"] button[type=submit]`), waitVisible(`[data-testid="child-password-done"]`))
	g.axe(t, "child password set")
	g.noConsoleErrors(t)
}
