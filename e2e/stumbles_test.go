package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// stumbleAccounts are issue 16's people: a parent, a pending staff member.
const stumbleAccounts = "identifier,email,first_name,last_name,population,password,provisional_password\n" +
	"P003,leo.martin@example.fr,Léo,Martin,parents,Ancien-mdp-2024,\n" +
	"S100,eric.noel@example.fr,Éric,Noël,staff,,Prov-7731\n"

// startStumbles starts a server with the example configuration, the
// accounts above and a real SMTP server.
func startStumbles(t *testing.T) (*server, *mailtest.Server) {
	t.Helper()
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=../config.example.yaml", "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, stumbleAccounts, env...)
	return startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...), smtp
}

// openRecovery opens « Mot de passe oublié ? » for a population and submits
// step 1 with what the person typed.
func (b *browser) openRecovery(t *testing.T, base, population, typed string) {
	t.Helper()
	b.run(t, chromedp.Navigate(base+"/"), waitVisible("h1"))
	b.run(t, click(`[data-testid="forgot-password"]`))
	b.waitStep(t, "choose")
	b.run(t, click(`#recovery-step a.choice[href*="population=`+population+`"]`))
	b.waitStep(t, "request")
	b.run(t, sendKeys("#rec-input", typed), click("#rec-consent"), click(`#recovery-step button[type=submit]`))
	b.waitStep(t, "code")
}

// TestRecoveryShowsWhatWasTyped: a typo in the address leaves a parent
// waiting for a mail that went nowhere; step 2 shows what was typed, and
// « Modifier » brings it back into step 1 to correct (issue 16, item 2).
func TestRecoveryShowsWhatWasTyped(t *testing.T) {
	t.Parallel()
	srv, smtp := startStumbles(t)
	b := newBrowser(t)
	b.openRecovery(t, srv.URL, "parents", "leo.martin@exemple.fr")
	if got := eval[string](t, b, `document.querySelector("[data-testid=sent-for]").textContent`); got != "leo.martin@exemple.fr" {
		t.Errorf("step 2 shows %q; want what was typed", got)
	}
	b.axe(t, "step 2 with what was typed")
	b.screenshot(t, "stumbles-2-sent-for")

	b.run(t, click(`form.sent-to button`))
	b.waitStep(t, "request")
	if v := eval[string](t, b, `document.querySelector("#rec-input").value`); v != "leo.martin@exemple.fr" {
		t.Errorf("« Modifier » shows %q in step 1", v)
	}
	b.axe(t, "step 1 after « Modifier »")
	eval[bool](t, b, `(document.querySelector("#rec-input").value = "", true)`)
	b.run(t, sendKeys("#rec-input", "leo.martin@example.fr"), click("#rec-consent"), click(`#recovery-step button[type=submit]`))
	b.waitStep(t, "code")
	if smtp.Wait("leo.martin@example.fr", 1, 10*time.Second).Code() == "" {
		t.Error("no code after the correction")
	}

	// A pending account: the same screen, and a mail saying how to
	// activate instead of a code that never comes.
	p := newBrowser(t)
	p.openRecovery(t, srv.URL, "staff", "S100")
	if txt := eval[string](t, p, `document.querySelector("#recovery-step").textContent`); !strings.Contains(txt, "Si un compte correspond") {
		t.Errorf("pending account's step 2: %q", txt)
	}
	if m := smtp.Wait("eric.noel@example.fr", 1, 10*time.Second); !strings.Contains(m.Text, "pas encore activé") {
		t.Errorf("pending account's mail:\n%s", m.Text)
	}
}

// TestActivationBackAndForward: after a step of the wizard, Back then
// Forward shows pages, never « Confirmer le nouvel envoi du formulaire »
// (ERR_CACHE_MISS): every accepted step answers with a redirect to a GET
// (issue 16, item 3).
func TestActivationBackAndForward(t *testing.T) {
	t.Parallel()
	srv, _ := startStumbles(t)
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(srv.URL+"/activation"), waitVisible("#act-identifier"))
	b.run(t, sendKeys("#act-identifier", "S100"), sendKeys("#act-provisional", "Prov-7731"),
		click(`form[action="/activation/start"] button[type=submit]`))
	b.run(t, waitVisible(`[data-testid="activation"][data-step="rescue"]`))
	b.run(t, chromedp.NavigateBack())
	b.run(t, waitPresent("body"))
	b.run(t, chromedp.NavigateForward())
	b.run(t, waitPresent("body"))
	if step := eval[string](t, b, `(document.querySelector("[data-testid=activation]") || {dataset: {}}).dataset.step || location.href`); step != "rescue" {
		t.Errorf("Back then Forward shows %q; want the rescue step", step)
	}
	b.axe(t, "activation after Back and Forward")
	b.screenshot(t, "stumbles-3-back-forward")

	// « J'ai confirmé l'adresse, continuer » before opening the link says
	// so, with « Renvoyer le lien » (issue 16, item 6).
	b.run(t, sendKeys("#act-rescue", "eric.noel@example.org"), click(`form[action="/activation/rescue"] button[type=submit]`))
	b.run(t, waitVisible(`form[method="get"] button[type=submit]`))
	b.run(t, click(`form[method="get"] button[type=submit]`))
	b.run(t, waitVisible(`[data-testid="not-confirmed"]`))
	if txt := eval[string](t, b, `document.querySelector("[data-testid=not-confirmed]").textContent`); !strings.Contains(txt, "pas encore confirmée") || !strings.Contains(txt, "Renvoyer le lien") {
		t.Errorf("not confirmed: %q", txt)
	}
	b.axe(t, "activation address not confirmed yet")
	b.screenshot(t, "stumbles-6-not-confirmed")
}

// TestRecoveryTwoDevices: the computer asks, the phone opens the mail's
// link and finishes; the computer is told plainly at each point instead of
// « Cette demande a expiré » (issue 16, item 4).
func TestRecoveryTwoDevices(t *testing.T) {
	t.Parallel()
	srv, smtp := startStumbles(t)
	computer := newBrowser(t)
	computer.openRecovery(t, srv.URL, "parents", "P003")
	m := smtp.Wait("leo.martin@example.fr", 1, 10*time.Second)
	link := m.Links()[0]
	link = srv.URL + link[strings.Index(link, "/recovery/code"):]

	phone := newBrowser(t)
	phone.run(t, chromedp.Navigate(link))
	phone.waitStep(t, "code")
	phone.run(t, click(`#recovery-step form[action="/recovery/code"] button[type=submit]`))
	phone.waitStep(t, "password")

	computer.run(t, sendKeys("#rec-code", m.Code()), click(`#recovery-step form[action="/recovery/code"] button[type=submit]`))
	computer.waitStep(t, "done")
	if txt := eval[string](t, computer, `document.querySelector("#recovery-step").textContent`); !strings.Contains(txt, "validé sur un autre appareil") {
		t.Errorf("the computer after the phone typed the code: %q", txt)
	}
	computer.axe(t, "code confirmed on another device")
	computer.screenshot(t, "stumbles-4-verified-elsewhere")

	phone.run(t, sendKeys("#new-password", "Trois chats sur le toit 42"), sendKeys("#confirm-password", "Trois chats sur le toit 42"))
	phone.settled(t)
	phone.run(t, click(`#recovery-step form[action="/recovery/password"] button[type=submit]`))
	phone.waitStep(t, "done")

	computer.run(t, chromedp.Navigate(srv.URL+"/"))
	computer.waitStep(t, "done")
	if txt := eval[string](t, computer, `document.querySelector("#recovery-step").textContent`); !strings.Contains(txt, "Mot de passe déjà modifié sur un autre appareil") {
		t.Errorf("the computer after the phone finished: %q", txt)
	}
	computer.axe(t, "password changed on another device")
	computer.screenshot(t, "stumbles-4-done-elsewhere")
}

// slowNetwork makes every request of the page take a second and a half, so
// that what a person sees while waiting can be looked at.
func (b *browser) slowNetwork(t *testing.T) {
	t.Helper()
	b.run(t, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Latency: 1500, DownloadThroughput: -1, UploadThroughput: -1}}})
		return err
	}))
}

// busyState returns the submit button's state and the form's status text.
func busyState(t *testing.T, b *browser, form string) (busy, disabled bool, status string) {
	t.Helper()
	type st struct {
		Busy     bool   `json:"busy"`
		Disabled bool   `json:"disabled"`
		Status   string `json:"status"`
	}
	s := eval[st](t, b, `(() => { const f = document.querySelector(`+"`"+form+"`"+`), btn = f.querySelector("button[type=submit]"), s = f.querySelector(".busy-status");
		return {busy: btn.getAttribute("aria-busy") === "true", disabled: btn.disabled, status: s ? s.textContent : ""}; })()`)
	return s.Busy, s.Disabled, s.Status
}

// TestBusyWhileSending: every submit shows it is under way, its button
// disabled and a status read to screen readers, in the dialog (HTMX) and
// on full pages (issue 16, item 7).
func TestBusyWhileSending(t *testing.T) {
	t.Parallel()
	srv, _ := startStumbles(t)
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("h1"))
	b.run(t, click(`[data-testid="forgot-password"]`))
	b.waitStep(t, "choose")
	b.run(t, click(`#recovery-step a.choice[href*="population=parents"]`))
	b.waitStep(t, "request")
	b.run(t, sendKeys("#rec-input", "P003"), click("#rec-consent"))
	b.slowNetwork(t)
	b.run(t, click(`#recovery-step button[type=submit]`))
	b.run(t, chromedp.Sleep(300*time.Millisecond))
	busy, disabled, status := busyState(t, b, `#recovery-step form[action="/recovery/request"]`)
	if !busy || !disabled || !strings.Contains(status, "Envoi en cours") {
		t.Errorf("dialog while sending: aria-busy %v, disabled %v, status %q", busy, disabled, status)
	}
	b.axe(t, "dialog while sending")
	b.screenshot(t, "stumbles-7-busy-dialog")
	b.waitStep(t, "code")

	p := newBrowser(t)
	p.run(t, chromedp.Navigate(srv.URL+"/activation"), waitVisible("#act-identifier"))
	p.run(t, sendKeys("#act-identifier", "S100"), sendKeys("#act-provisional", "Prov-7731"))
	// A full page: the state is read in the same turn as the click (the
	// page is replaced when the answer comes).
	got, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`new Promise(done => {
		const f = document.querySelector('form[action="/activation/start"]'), btn = f.querySelector("button[type=submit]");
		btn.click();
		setTimeout(() => done([btn.getAttribute("aria-busy"), btn.disabled, (f.querySelector(".busy-status") || {}).textContent].join("|")), 5);
	})`, func(e *runtime.EvaluateParams) { yes := true; e.AwaitPromise = &yes }))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "true|true|Envoi en cours") {
		t.Errorf("activation while sending: aria-busy|disabled|status = %q", got)
	}
	p.run(t, waitVisible(`[data-testid="activation"][data-step="rescue"]`))
}

// TestLoginChooseAccount: a shared address whose password fits two
// accounts lists them as « P020 — Linh Nguyen », and after choosing one the
// cursor waits in the password field (issue 16, item 12).
func TestLoginChooseAccount(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=../config.example.yaml", "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, "identifier,email,first_name,last_name,population,password\n"+
		"P020,famille.nguyen@example.fr,Linh,Nguyen,parents,Jardin-2024-b\n"+
		"P021,famille.nguyen@example.fr,Minh,Nguyen,parents,Jardin-2024-b\n", env...)
	srv := startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...)
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("#identifier"),
		sendKeys("#identifier", "famille.nguyen@example.fr"), sendKeys("#password", "Jardin-2024-b"),
		click(`form[action="/login"] button[type=submit]`), waitVisible("#login-choose"))
	choices := eval[[]string](t, b, `[...document.querySelectorAll("#login-choose li a")].map(a => a.textContent)`)
	if len(choices) != 2 || choices[0] != "P020 — Linh Nguyen" {
		t.Errorf("the choices read %q; want « P020 — Linh Nguyen »", choices)
	}
	b.axe(t, "which account?")
	b.screenshot(t, "stumbles-12-choose")
	// The page with the choices is a sign-in page too: wait for the one the
	// link loads, without the choices, not for any sign-in page.
	b.run(t, click(`#login-choose li:first-child a`),
		waitTrue(`!document.querySelector("#login-choose") && document.querySelector("#identifier")?.value === "P020"`))
	b.eventually(t, `document.activeElement?.id === "password"`, "after choosing, focus should wait in the password field")
	b.axe(t, "account chosen")
	b.screenshot(t, "stumbles-12-chosen")
	b.run(t, sendKeys("#password", "Jardin-2024-b"), click(`form[action="/login"] button[type=submit]`),
		waitVisible(`[data-testid="account"]`))
}

// currentStepName returns what the activation step bar shows of its
// current step at the phone's width, "" when its name is hidden or cut.
func currentStepName(t *testing.T, b *browser) string {
	t.Helper()
	return eval[string](t, b, `(() => { const l = document.querySelector(".steps.wizard li[aria-current=step] .label");
		if (!l || l.offsetWidth === 0 || l.scrollWidth > l.clientWidth + 1) return "";
		return l.textContent; })()`)
}

// TestActivationStepNameOnPhone: on a phone the activation step bar shows
// the current step's name, not bare numbers 1…7 (issue 16, item 11).
func TestActivationStepNameOnPhone(t *testing.T) {
	t.Parallel()
	srv, _ := startStumbles(t)
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(srv.URL+"/activation"), waitVisible("#act-identifier"))
	b.run(t, sendKeys("#act-identifier", "S100"), sendKeys("#act-provisional", "Prov-7731"),
		click(`form[action="/activation/start"] button[type=submit]`))
	b.run(t, waitVisible(`[data-testid="activation"][data-step="rescue"]`))
	if got := currentStepName(t, b); got != "Secours" {
		t.Errorf("the step bar shows %q for the current step; want its name", got)
	}
	if over := eval[bool](t, b, `document.documentElement.scrollWidth > window.innerWidth`); over {
		t.Error("the step bar scrolls sideways at 390 px")
	}
	b.axe(t, "activation step bar on a phone")
	b.screenshot(t, "stumbles-11-step-name")
}

// switchDialogLanguage follows the dialog's own language switch and waits
// for the page to come back with the dialog open at step.
func (b *browser) switchDialogLanguage(t *testing.T, lang, step string) {
	t.Helper()
	b.run(t, click(`dialog[open] .dialog-lang a[lang="`+lang+`"]`))
	b.run(t, waitVisible(`html[lang="`+lang+`"] dialog[open] #recovery-step[data-step="`+step+`"]`))
	b.waitStep(t, step)
}

// TestRecoveryDialogLanguage: the page's language switch is behind the
// open dialog, so the dialog has its own; switching keeps the dialog's
// state (population, what was typed, the flow), and the flow continues in
// the other language (issue 16, item 8).
func TestRecoveryDialogLanguage(t *testing.T) {
	t.Parallel()
	srv, smtp := startStumbles(t)
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("h1"))
	b.run(t, click(`[data-testid="forgot-password"]`))
	b.waitStep(t, "choose")
	b.axe(t, "chooser with the dialog's language switch")
	b.run(t, click(`#recovery-step a.choice[href*="population=parents"]`))
	b.waitStep(t, "request")
	b.run(t, sendKeys("#rec-input", "P003"))

	b.switchDialogLanguage(t, "en", "request")
	if h := eval[string](t, b, `document.querySelector("#recovery-title").textContent`); h != "Forgotten password" {
		t.Errorf("after switching to English, the dialog reads %q", h)
	}
	if pop := eval[string](t, b, `document.querySelector("#recovery-step input[name=population]").value`); pop != "parents" {
		t.Errorf("after switching, population %q; want parents", pop)
	}
	if v := eval[string](t, b, `document.querySelector("#rec-input").value`); v != "P003" {
		t.Errorf("after switching, the field holds %q; want what was typed", v)
	}
	b.axe(t, "step 1 in English after the switch")
	b.screenshot(t, "stumbles-8-dialog-english")

	b.run(t, click("#rec-consent"), click(`#recovery-step button[type=submit]`))
	b.waitStep(t, "code")
	code := smtp.Wait("leo.martin@example.fr", 1, 10*time.Second).Code()
	b.run(t, sendKeys("#rec-code", code))
	b.switchDialogLanguage(t, "fr", "code")
	if h := eval[string](t, b, `document.querySelector("#recovery-title").textContent`); h != "Saisissez le code reçu" {
		t.Errorf("after switching back to French, the dialog reads %q", h)
	}
	if v := eval[string](t, b, `document.querySelector("#rec-code").value`); v != code {
		t.Errorf("after switching, the code field holds %q", v)
	}
	b.axe(t, "step 2 in French after the switch")
	b.screenshot(t, "stumbles-8-dialog-french")
	// The same request goes on: the code mailed before the switch works.
	b.run(t, click(`#recovery-step form[action="/recovery/code"] button[type=submit]`))
	b.waitStep(t, "password")
	b.noConsoleErrors(t)
}

// TestRecoveryContinueFillsIdentifier: at the end of a recovery,
// « Continuer » opens the sign-in page with the identifier filled in and
// the cursor in the password field (issue 16, item 13).
func TestRecoveryContinueFillsIdentifier(t *testing.T) {
	t.Parallel()
	srv, smtp := startStumbles(t)
	b := newBrowser(t)
	b.openRecovery(t, srv.URL, "parents", "leo.martin@example.fr")
	code := smtp.Wait("leo.martin@example.fr", 1, 10*time.Second).Code()
	b.run(t, sendKeys("#rec-code", code), click(`#recovery-step form[action="/recovery/code"] button[type=submit]`))
	b.waitStep(t, "password")
	b.run(t, sendKeys("#new-password", "Trois chats sur le toit 42"), sendKeys("#confirm-password", "Trois chats sur le toit 42"))
	b.settled(t)
	b.run(t, click(`#recovery-step form[action="/recovery/password"] button[type=submit]`))
	b.waitStep(t, "done")
	b.axe(t, "recovery done")
	// The dialog sits on a sign-in page: wait for the one « Continuer »
	// loads, so that the reads below are of that page and the bound on its
	// autofocus does not also pay for the navigation.
	b.run(t, clickToPage(`[data-testid="recovery-continue"]`, `[data-testid="login"]`))
	b.eventually(t, `document.activeElement?.id === "password"`, "after « Continuer », focus should wait in the password field")
	if v := eval[string](t, b, `document.querySelector("#identifier").value`); v != "P003" {
		t.Errorf("after « Continuer », the identifier reads %q", v)
	}
	b.axe(t, "sign-in after recovery")
	b.screenshot(t, "stumbles-13-continue")
	b.run(t, sendKeys("#password", "Trois chats sur le toit 42"), click(`form[action="/login"] button[type=submit]`),
		waitVisible(`[data-testid="account"]`))
}
