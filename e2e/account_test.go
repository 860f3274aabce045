package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// TestSignInChangePassword: sign in on a phone, change the password with
// the live checklist, sign out, sign in with the new password.
func TestSignInChangePassword(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=../config.example.yaml", "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, "identifier,email,first_name,last_name,population,password\nP003,leo.martin@example.fr,Léo,Martin,parents,Ancien-mdp-2024\n", env...)
	srv := startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...)
	b := newBrowser(t)

	signIn := func(password string) {
		b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("#identifier"),
			sendKeys("#identifier", "leo.martin@example.fr"), sendKeys("#password", password),
			click(`form[action="/login"] button[type=submit]`),
			waitVisible(`[data-testid="account"]`))
	}
	signIn("Ancien-mdp-2024")
	if h1 := eval[string](t, b, `document.querySelector("h1").textContent`); h1 != "Mes informations personnelles" {
		t.Fatalf("after sign-in, h1 = %q", h1)
	}
	b.settled(t)
	b.noConsoleErrors(t)
	b.axe(t, "account page")
	b.screenshot(t, "account")

	b.run(t, sendKeys("#pf-current", "Ancien-mdp-2024"))
	typeNewPassword(t, b, "Nouveau-mdp-2025")
	b.run(t, click(`#password-form button[type=submit]`), waitVisible(`[data-testid="password-done"]`))
	// The result has the focus, on screen (issue 16, item 9). The form
	// loaded a new page, whose autofocus applies at its first rendering:
	// wait for it with b.eventually, which survives the navigation, where
	// chromedp.Poll may still evaluate in the context of the page just left.
	b.eventually(t, `document.activeElement?.dataset.testid === "password-done"`, "after the change, focus should be on its result")
	if in := eval[bool](t, b, `(() => { const r = document.activeElement.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; })()`); !in {
		t.Error("the password change's result is not on screen")
	}
	b.axe(t, "password changed")
	b.screenshot(t, "account-password-changed")
	if m := smtp.Wait("leo.martin@example.fr", 1, 10*time.Second); !strings.Contains(m.Subject, "modifié") {
		t.Errorf("notice = %q", m.Subject)
	}

	b.run(t, click(`[data-testid="logout"]`), waitVisible(`[data-testid="login"]`))
	if txt := eval[string](t, b, `document.querySelector(".alert.ok").textContent`); !strings.Contains(txt, "déconnecté") {
		t.Errorf("after sign-out: %q", txt)
	}
	b.axe(t, "signed out")
	// The old password no longer works; the new one does.
	b.run(t, sendKeys("#identifier", "P003"), sendKeys("#password", "Ancien-mdp-2024"),
		click(`form[action="/login"] button[type=submit]`), waitVisible("#login-error"))
	b.axe(t, "wrong password")
	signIn("Nouveau-mdp-2025")
	b.noConsoleErrors(t)
}
