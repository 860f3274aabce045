package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// deskAccounts are the school's people for the console's tests: a help
// desk agent (S210 in config.example.yaml), a parent with an address on
// file, and a class of students, three of them waiting for their letters.
const deskAccounts = "identifier,email,first_name,last_name,population,password,provisional_password\n" +
	"S210,s210@lycee-jean-moulin.example,Sophie,Accueil,staff,Agent-mdp-2025-solide,\n" +
	"P010,helene.berard@example.fr,Hélène,Bérard,parents,Ancien-mdp-2024,\n" +
	"E001,,Zoé,Noël,students,,Prov-e001-x\n" +
	"E002,,Chloé,Adam,students,,Prov-e002-x\n" +
	"E003,,Éloïse,Martin,students,,Prov-e003-x\n" +
	"E004,,Théo,Actif,students,Actif-2024,\n"

const agentPassword = "Agent-mdp-2025-solide"

// provisionalRE finds a provisional password on a letter: 13 symbols of
// the unambiguous alphabet, after its label.
var provisionalRE = regexp.MustCompile(`Mot de passe provisoire :\s*([a-hjkmnp-z2-9]{13})\b`)

// TestDeskHelpdesk is the office console as a help desk agent on a phone:
// from the personal page to the console, a search by part of a name typed
// without its accents, a recovery code sent (it reaches the person's
// mailbox and no page the agent sees shows it), a new provisional password
// printed (the PDF holds the identifier and a password that activates the
// account once; the old password no longer signs in), and a population's
// batch of letters (one page per pending account). axe-core checks every
// state.
func TestDeskHelpdesk(t *testing.T) {
	t.Parallel()
	pdftotext := lookPath(t, "pdftotext")
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=../config.example.yaml", "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, deskAccounts, env...)
	srv := startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...)
	b := newBrowser(t)

	// Every page the agent saw, to look for secrets in at the end.
	var seen []string
	state := func(name string) {
		t.Helper()
		b.settled(t)
		b.axe(t, "desk "+name)
		if over := eval[bool](t, b, `document.documentElement.scrollWidth > window.innerWidth`); over {
			t.Errorf("desk %s scrolls sideways on a phone", name)
		}
		b.screenshot(t, "desk-"+name)
		seen = append(seen, eval[string](t, b, `document.documentElement.outerHTML`))
	}

	// The agent signs in; the personal page links to the console.
	b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("#identifier"),
		sendKeys("#identifier", "S210"), sendKeys("#password", agentPassword),
		click(`form[action="/login"] button[type=submit]`),
		waitVisible(`[data-testid="desk-link"]`))
	b.run(t, click(`[data-testid="desk-link"]`), waitVisible(`[data-testid="desk-search"]`))
	state("0-search")

	// Part of a name, without its accents.
	b.run(t, sendKeys("#desk-q", "helene ber"), click(`form[role=search] button[type=submit]`),
		waitVisible(`[data-testid="desk-results"]`))
	state("1-results")
	if got := eval[string](t, b, `[...document.querySelectorAll("[data-testid=desk-results] li")].map(l => l.textContent.replace(/\s+/g, " ").trim()).join(" | ")`); !strings.Contains(got, "Hélène Bérard") || !strings.Contains(got, "P010") || strings.Contains(got, "E00") {
		t.Errorf("results for « helene ber » = %q", got)
	}
	if got := eval[string](t, b, `document.querySelector("[data-testid=desk-results]").textContent`); !strings.Contains(got, "h•••@example.fr") || strings.Contains(got, "helene.berard") {
		t.Errorf("the results show the address as %q, want it masked", got)
	}
	b.run(t, click(`[data-testid="desk-results"] a`), waitVisible(`[data-testid="desk-person"]`))
	state("2-person")
	person := eval[string](t, b, `location.href`)

	// A recovery code: it reaches the person's mailbox, not the agent.
	b.run(t, click(`[data-testid="desk-send-code"]`), waitVisible(`[data-testid="desk-notice"]`))
	state("3-code-sent")
	mail := smtp.Wait("helene.berard@example.fr", 1, 10*time.Second)
	code := mail.Code()
	if code == "" {
		t.Fatalf("no code in the mail to the person: %q", mail.Text)
	}
	// Back to the person's page by its address: reloading would post the
	// action again.
	b.run(t, chromedp.Navigate(person), waitVisible(`[data-testid="desk-history"]`))
	state("4-history")
	if got := eval[string](t, b, `document.querySelector("[data-testid=desk-requests]").textContent`); !strings.Contains(got, "code envoyé") {
		t.Errorf("the last 24 h show %q, want the code mailed", got)
	}

	// A new provisional password, and its letter as a download.
	b.run(t, sendKeys("#desk-letter-current", agentPassword))
	letter := b.download(t, click(`[data-testid="desk-letter-submit"]`))
	text := pdfText(t, pdftotext, letter)
	if !strings.Contains(text, "P010") || !strings.Contains(text, "Hélène Bérard") {
		t.Errorf("the letter lacks the identifier or the name:\n%s", text)
	}
	m := provisionalRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no provisional password on the letter:\n%s", text)
	}
	provisional := m[1]
	b.run(t, chromedp.Navigate(person), waitVisible(`[data-testid="desk-status"]`))
	state("5-after-letter")
	if got := eval[string](t, b, `document.querySelector("[data-testid=desk-status]").textContent`); !strings.Contains(got, "non activé") {
		t.Errorf("after the letter, the status is %q", got)
	}
	if got := eval[string](t, b, `document.querySelector("[data-testid=desk-history]").textContent`); !strings.Contains(got, "lettre imprimée") || !strings.Contains(got, "code envoyé") {
		t.Errorf("the history shows %q", got)
	}

	// The office screen: the same page, wide.
	b.run(t, chromedp.EmulateViewport(1280, 900))
	b.screenshot(t, "desk-5-person-office-screen")
	b.axe(t, "desk person on an office screen")
	b.run(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch))

	// The batch of a population: one page per pending account, by name.
	b.run(t, click(`.desk-nav a[href="/desk/batch"]`), waitVisible(`[data-testid="desk-batch"]`))
	state("6-batch")
	b.run(t, setValue("#desk-population", "students"), sendKeys("#desk-batch-current", agentPassword))
	batch := b.download(t, click(`[data-testid="desk-batch-submit"]`))
	if n := pdfPages(t, batch); n != 3 {
		t.Errorf("the students' batch has %d pages, want 3 (E001, E002, E003)", n)
	}
	text = pdfText(t, pdftotext, batch)
	if strings.Contains(text, "E004") || strings.Contains(text, "P010") {
		t.Errorf("the batch holds an active account or another population:\n%s", text)
	}
	if a, m, n := strings.Index(text, "E002"), strings.Index(text, "E003"), strings.Index(text, "E001"); a < 0 || !(a < m && m < n) {
		t.Errorf("the batch is not in name order (Adam, Martin, Noël): E002 at %d, E003 at %d, E001 at %d", a, m, n)
	}
	if got := len(provisionalRE.FindAllString(text, -1)); got != 3 {
		t.Errorf("the batch holds %d provisional passwords, want 3", got)
	}
	b.noConsoleErrors(t)

	// No page the agent saw holds the code, a link, or the password.
	for i, html := range seen {
		low := strings.ToLower(html)
		if strings.Contains(low, strings.ToLower(code)) || strings.Contains(html, provisional) {
			t.Errorf("page %d the agent saw holds the code or the provisional password", i)
		}
		for _, l := range mail.Links() {
			if strings.Contains(html, l) {
				t.Errorf("page %d the agent saw holds the mailed link", i)
			}
		}
	}

	// The person: the old password no longer signs in; the letter's
	// activates the account, once.
	p := newBrowser(t)
	p.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("#identifier"),
		sendKeys("#identifier", "P010"), sendKeys("#password", "Ancien-mdp-2024"),
		click(`form[action="/login"] button[type=submit]`), waitVisible("#login-error"))
	p.consoleErrors() // the refused sign-in answers 422, as it should
	activateParent(t, p, smtp, "P010", provisional, "helene.secours@example.org", "Une phrase de passe solide 7")
	p.noConsoleErrors(t)
	p.run(t, chromedp.Navigate(srv.URL+"/activation"), waitVisible("#act-identifier"),
		sendKeys("#act-identifier", "P010"), sendKeys("#act-provisional", provisional),
		click(`main form:not(.restart) button[type=submit]`), waitVisible("#act-form-error"))
	p.axe(t, "provisional password used twice")
	p.consoleErrors() // the refusal answers 422, as it should
	// Signed in with the password chosen at activation, the parent sees no
	// way into the console.
	p.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("#identifier"),
		sendKeys("#identifier", "P010"), sendKeys("#password", "Une phrase de passe solide 7"),
		click(`form[action="/login"] button[type=submit]`), waitVisible(`[data-testid="account"]`))
	if eval[bool](t, p, `!!document.querySelector("[data-testid=desk-link], a[href^='/desk']")`) {
		t.Error("a parent's personal page links to the console")
	}
	p.noConsoleErrors(t)
}

// confirmRescue gives the activation's rescue address and confirms it by
// the mailed link, opened in the same browser, which then goes back to
// the wizard.
func confirmRescue(t *testing.T, b *browser, smtp *mailtest.Server, rescue string) {
	t.Helper()
	b.run(t, setValue("#act-rescue", rescue), click(`form[action="/activation/rescue"] button`))
	b.run(t, waitVisible(`form[method=get] button`))
	link := smtp.Wait(rescue, 1, 10*time.Second).Links()[0]
	b.run(t, chromedp.Navigate(link), waitVisible(`form[action="/activation/confirm"] button`))
	b.run(t, click(`form[action="/activation/confirm"] button`), waitVisible(`a[href="/activation"].btn`))
	b.run(t, click(`a[href="/activation"].btn`))
}

// activateParent walks the activation wizard of a population without a
// mailbox, with the identifier and provisional password of a letter.
func activateParent(t *testing.T, b *browser, smtp *mailtest.Server, id, provisional, rescue, password string) {
	t.Helper()
	submit := `main form:not(.restart) button[type=submit]`
	step := func(n string) {
		t.Helper()
		b.run(t, waitVisible(`[data-testid="activation"][data-step="`+n+`"]`))
		b.settled(t)
	}
	b.run(t, chromedp.Navigate(strings.TrimSuffix(eval[string](t, b, `location.origin`), "/")+"/activation"))
	step("start")
	b.run(t, sendKeys("#act-identifier", id), sendKeys("#act-provisional", provisional), click(submit))
	step("rescue")
	confirmRescue(t, b, smtp, rescue)
	step("charter")
	b.run(t, click("#act-charter"), click(submit))
	step("directory")
	b.run(t, click("#act-dir-no"), click(submit))
	step("password")
	typeNewPassword(t, b, password)
	b.run(t, click(submit))
	step("done")
}

// download does click and returns the file the browser downloaded: a
// real download, as the agent's browser saves it, not a fetch.
func (b *browser) download(t *testing.T, click chromedp.Action[chromedp.Void]) []byte {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	yes := true
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &yes,
			// The test's own browser context: the Chromium is shared.
			BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
		})
		return err
	}), click); err != nil {
		t.Fatal(err)
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download: %v", err)
		}
		switch ev.State {
		case cdpbrowser.DownloadProgressStateCompleted:
			data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				t.Fatal(err)
			}
			return data
		case cdpbrowser.DownloadProgressStateCanceled:
			t.Fatal("the download was cancelled")
		}
	}
	t.Fatal("no download")
	return nil
}

// lookPath finds a tool the test needs; without it the test is skipped,
// unless SESAME_E2E=require.
func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SESAME_E2E") == "require" {
			t.Fatalf("%s not found; install Debian's poppler-utils", name)
		}
		t.Skipf("%s not found (Debian's poppler-utils)", name)
	}
	return p
}

// pdfText reads a PDF back with pdftotext, as the issue asks.
func pdfText(t *testing.T, pdftotext string, pdf []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "letters.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-layout", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// pdfPages counts a PDF's pages with pdfinfo.
func pdfPages(t *testing.T, pdf []byte) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "letters.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lookPath(t, "pdfinfo"), path).Output()
	if err != nil {
		t.Fatalf("pdfinfo: %v", err)
	}
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("pdfinfo: no page count in %s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
