package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// importAccounts loads accounts with the binary itself, as a school would.
func importAccounts(t *testing.T, dataDir, csv string, env ...string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "accounts.csv")
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "accounts", "import", path)
	cmd.Env = append(append(os.Environ(), "SESAME_DATA_DIR="+dataDir), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
}

func (b *browser) waitStep(t *testing.T, step string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, waitVisible(`dialog[open] #recovery-step[data-step="`+step+`"]`)); err != nil {
		t.Fatalf("waiting for step %s: %v; page has steps %s", step, err, eval[string](t, b, `[...document.querySelectorAll("#recovery-step")].map(e => e.dataset.step + (e.closest("dialog[open]") ? "(in open dialog)" : "")).join(",")`))
	}
	if !eval[bool](t, b, `document.querySelector("#recovery-dialog").open`) {
		t.Fatalf("the dialog closed at step %s", step)
	}
	b.settled(t)
}

// settled waits until HTMX has wired the new content: a click sooner than
// that (no person is that fast) would be an ordinary navigation. It
// follows whole pages too (a step of the activation, a sign-in, the
// dialog's language switch), so it waits with waitTrue, not chromedp.Poll:
// Poll evaluates in the execution context chromedp last heard of, which
// just after a navigation can still be the page's that was left (« Cannot
// find context with specified id »), and it does not try again.
func (b *browser) settled(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, waitTrue(`!document.querySelector(".htmx-settling,.htmx-swapping,.htmx-request") &&
		[...document.querySelectorAll("[hx-get],[hx-post]")].every(e => e["htmx-internal-data"])`))
	if err != nil {
		t.Fatalf("HTMX did not settle: %v", err)
	}
}

// TestRecoveryDialog walks the three steps on a phone: the dialog stays
// open, the step indicator moves, the code comes from the real mail, the
// checklist reacts while typing, and axe-core finds nothing at any step.
func TestRecoveryDialog(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=../config.example.yaml", "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, "identifier,email,first_name,last_name,population,password\nP003,leo.martin@example.fr,Léo,Martin,parents,Ancien-mdp-2024\n", env...)
	srv := startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...)
	b := newBrowser(t)

	b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("h1"))
	b.run(t, click(`[data-testid="forgot-password"]`))
	b.waitStep(t, "choose")
	b.noConsoleErrors(t)
	b.axe(t, "recovery chooser")
	b.screenshot(t, "recovery-0-chooser")

	b.run(t, click(`#recovery-step a.choice[href*="population=parents"]`))
	b.waitStep(t, "request")
	if focused := eval[string](t, b, `document.activeElement.id`); focused != "recovery-title" {
		t.Errorf("focus after the step changed is on %q, want the step's heading", focused)
	}
	b.axe(t, "recovery step 1")
	b.screenshot(t, "recovery-1-identifier")

	// Submitting without consent keeps the dialog and explains why.
	b.run(t, sendKeys("#rec-input", "P003"), click(`#recovery-step button[type=submit]`))
	b.run(t, waitVisible("#rec-consent-error"))
	b.waitStep(t, "request")
	if focused := eval[string](t, b, `document.activeElement.id`); focused != "rec-consent" {
		t.Errorf("after the error, focus is on %q, want the field in error", focused)
	}
	b.run(t, click("#rec-consent"), click(`#recovery-step button[type=submit]`))
	b.waitStep(t, "code")
	if cur := eval[string](t, b, `document.querySelector(".steps [aria-current=step]").textContent`); !strings.Contains(cur, "Code") {
		t.Errorf("step indicator at step 2 shows %q", cur)
	}
	b.axe(t, "recovery step 2")
	b.screenshot(t, "recovery-2-code")

	// Closing before the end asks first; « Continuer la démarche » stays.
	b.run(t, click("[data-dialog-close]"), waitVisible("[data-dialog-confirm]"))
	if txt := eval[string](t, b, `document.querySelector("[data-dialog-confirm]").textContent`); !strings.Contains(txt, "Vous ne devez pas fermer cette fenêtre tant que les 3 étapes ne sont pas terminées") {
		t.Errorf("close warning = %q", txt)
	}
	b.axe(t, "close confirmation")
	b.run(t, click("[data-dialog-stay]"))
	b.waitStep(t, "code")
	if hidden := eval[bool](t, b, `document.querySelector("[data-dialog-confirm]").hidden`); !hidden {
		t.Error("the close warning stays after « Continuer la démarche »")
	}

	code := smtp.Wait("leo.martin@example.fr", 1, 10*time.Second).Code()
	if code == "" {
		t.Fatal("no code in the mail")
	}
	if ac := eval[string](t, b, `document.querySelector("#rec-code").autocomplete`); ac != "one-time-code" {
		t.Errorf("code field autocomplete = %q", ac)
	}
	b.run(t, sendKeys("#rec-code", strings.ToLower(code)), click(`#recovery-step form[action="/recovery/code"] button[type=submit]`))
	b.waitStep(t, "password")
	b.axe(t, "recovery step 3")

	// The checklist turns items green (with a mark) while typing.
	before := eval[int](t, b, `document.querySelectorAll("#pw-rules li[data-met=true]").length`)
	b.run(t, sendKeys("#new-password", "Trois chats sur le toit 42"))
	b.run(t, waitAllRulesMet())
	after := eval[int](t, b, `document.querySelectorAll("#pw-rules li[data-met=true]").length`)
	if after <= before {
		t.Errorf("checklist did not react: %d → %d rules met", before, after)
	}
	b.settled(t)
	b.run(t, sendKeys("#confirm-password", "Trois chats sur le toit 42"))
	b.run(t, waitVisible(`[data-testid="match"].met`))
	b.settled(t)
	b.axe(t, "recovery step 3 typed")
	b.screenshot(t, "recovery-3-password")
	b.run(t, click(`#recovery-step form[action="/recovery/password"] button[type=submit]`))
	b.waitStep(t, "done")
	if txt := eval[string](t, b, `document.querySelector("[data-testid=recovery-done]").textContent`); !strings.Contains(txt, "P003") {
		t.Errorf("done message = %q", txt)
	}
	b.axe(t, "recovery done")
	b.screenshot(t, "recovery-4-done")
	b.noConsoleErrors(t)

	// « Continuer » returns to the login page, not signed in. The dialog
	// sits on a sign-in page already: wait for the page the link loads, or
	// the check below reads the dialog still open on the page being left.
	b.run(t, clickToPage(`[data-close-dialog]`, `[data-testid="login"]`))
	if open := eval[bool](t, b, `!!document.querySelector("#recovery-dialog").open`); open {
		t.Error("the dialog is still open on the login page")
	}
}
