package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// exampleWalks are the school files of examples/, each with an account of
// its accounts.csv that signs in and the chooser's entries a person reads.
var exampleWalks = []struct {
	dir, identifier, password string
	chooser                   []string
	// address is a help page with an in-person address ("" if none).
	address string
	// population and email: the account's, to ask for a code.
	population, email string
	// legal starts the mails' legal paragraph ("" if the school has none).
	legal string
	// refused is a new password the account's policy refuses, and rule
	// the words of the checklist's line that turns red for it ("" for
	// none); accepted meets every rule.
	refused, rule, accepted string
}{
	{"up-montelimar", "A-2026-0153", "Tilleul et lavande 1954",
		[]string{"Je suis adhérent", "J'anime un atelier ou une conférence"}, "/help/members", "members", "jacqueline.roux@example.fr", "", "", "", ""},
	{"universite-montpellier", "e22104512", "Une tasse de thé au Peyrou",
		[]string{"Je suis étudiant", "Je suis personnel titulaire", "Je suis personnel contractuel"}, "", "students", "ines.garcia@example.fr", "", "", "", ""},
	{"region-nouvelle-aquitaine", "u.lafitte", "Le dossier de subvention 2026",
		[]string{"Je suis usager des services de la Région", "Je suis élu", "Je suis agent des lycées", "Je suis agent du siège"}, "", "users", "claire.lafitte@example.fr", "Conformément à la loi Informatique et Libertés", "", "", ""},
	{"lycee-portail-familles", "P020", "Jardin2024b",
		[]string{"Je suis parent d'élève", "Je suis élève", "Je suis personnel du lycée"}, "", "parents", "famille.nguyen@example.fr", "", "", "", ""},
	{"universite-paul-valery", "pers0451", "Olivier34",
		[]string{"Je suis étudiant", "Je suis personnel de l'université"}, "", "staff", "gilles.arnaud@example.fr", "",
		// « de 6 à 15 caractères, sans accents et sans caractères spéciaux »
		"Garrigue2026é", "accentuée", "Garrigue2026"},
}

// startExample starts the server as a school would with the example in
// examples/dir: its school file, its accounts imported with the command
// line, its mail to a real SMTP server of the test.
func startExample(t *testing.T, dir string) (*server, *mailtest.Server) {
	t.Helper()
	csv, err := os.ReadFile("../examples/" + dir + "/accounts.csv")
	if err != nil {
		t.Fatal(err)
	}
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{"SESAME_CONFIG=../examples/" + dir + "/school.yaml", "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, string(csv), env...)
	return startServer(t, append(env, "SESAME_DATA_DIR="+dataDir)...), smtp
}

// TestExampleWalks starts each example as a school would (its file, its
// accounts), checks that it logs no warning but its documented weak
// policies, and walks it on a phone: the sign-in page, the chooser of
// « Mot de passe oublié ? » with « J'ai besoin de support », and a sign-in.
func TestExampleWalks(t *testing.T) {
	t.Parallel()
	for _, ex := range exampleWalks {
		t.Run(ex.dir, func(t *testing.T) {
			t.Parallel()
			srv, smtp := startExample(t, ex.dir)
			for _, line := range strings.Split(srv.Logs(), "\n") {
				if strings.Contains(line, "level=WARN") && !strings.Contains(line, "weak password policy") {
					t.Errorf("warning at start: %s", line)
				}
			}

			b := newBrowser(t)
			b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible(`[data-testid="login"]`))
			b.noConsoleErrors(t)
			b.axe(t, ex.dir+" sign-in page")
			b.screenshot(t, "example-"+ex.dir+"-login")
			// The header shows the school's name whole, however long: on a
			// phone it wraps onto a second line instead of losing its end.
			if cut := eval[bool](t, b, `(() => { const s = document.querySelector(".brand span"); return !s || s.scrollHeight > s.clientHeight + 1 || s.scrollWidth > s.clientWidth + 1 })()`); cut {
				t.Error("the header cuts the school's name")
			}

			b.run(t, click(`[data-testid="forgot-password"]`))
			b.waitStep(t, "choose")
			txt := eval[string](t, b, `document.querySelector("#recovery-step").textContent`)
			for _, label := range append(ex.chooser, "J'ai besoin de support") {
				if !strings.Contains(txt, label) {
					t.Errorf("the chooser lacks « %s »: %q", label, txt)
				}
			}
			b.axe(t, ex.dir+" chooser")
			b.screenshot(t, "example-"+ex.dir+"-chooser")

			// A code for the account, in the population's words, with the
			// school's legal paragraph at the foot of the mail if it has one.
			b.run(t, click(`#recovery-step a.choice[href*="population=`+ex.population+`"]`))
			b.waitStep(t, "request")
			b.run(t, sendKeys("#rec-input", ex.identifier), click("#rec-consent"), click(`#recovery-step button[type=submit]`))
			b.waitStep(t, "code")
			b.axe(t, ex.dir+" code step")
			m := smtp.Wait(ex.email, 1, 10*time.Second)
			if m.Code() == "" {
				t.Errorf("no code in the mail:\n%s", m.Text)
			}
			if hasLegal := strings.Contains(m.Text, "Conformément à la loi"); hasLegal != (ex.legal != "") || (ex.legal != "" && !strings.Contains(m.Text, ex.legal)) {
				t.Errorf("legal paragraph in the mail: %v, want %q:\n%s", hasLegal, ex.legal, m.Text)
			}

			// Another browser signs in (this one's dialog holds its request).
			b = newBrowser(t)
			b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("#identifier"),
				sendKeys("#identifier", ex.identifier), sendKeys("#password", ex.password),
				click(`form[action="/login"] button[type=submit]`),
				waitVisible(`[data-testid="account"]`))
			b.settled(t)
			b.noConsoleErrors(t)
			b.axe(t, ex.dir+" personal page")

			if ex.address != "" {
				// The association's « permanences »: where, on its help page.
				b.run(t, chromedp.Navigate(srv.URL+ex.address), waitVisible(`[data-testid="desk-address"]`))
				if a := eval[string](t, b, `document.querySelector("[data-testid=desk-address]").innerText`); !strings.Contains(a, "26200 Montélimar") {
					t.Errorf("the help desk's address reads %q", a)
				}
				b.axe(t, ex.dir+" help desk with an address")
				b.screenshot(t, "example-"+ex.dir+"-help")
				b.run(t, chromedp.Navigate(srv.URL+"/account"), waitVisible(`[data-testid="account"]`))
			}

			if ex.refused != "" {
				// The live checklist of the personal page, under the
				// population's own rules: the broken rule turns red, then
				// every rule green.
				b.run(t, sendKeys("#new-password", ex.refused))
				b.run(t, chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#pw-rules li[data-met=false]")].some(li => li.textContent.includes(`+jsString(ex.rule)+`))`, chromedp.WithPollingTimeout(10*time.Second)))
				b.axe(t, ex.dir+" checklist with a rule broken")
				b.screenshot(t, "example-"+ex.dir+"-checklist-refused")
				b.run(t, setValue("#new-password", ex.accepted))
				b.run(t, waitAllRulesMet())
				b.screenshot(t, "example-"+ex.dir+"-checklist-met")
			}

			// « Consulter notre politique de sécurité des mots de passe »:
			// the link of the password form, and its page.
			href := eval[string](t, b, `document.querySelector("[data-testid=policy-link]").getAttribute("href")`)
			b.run(t, chromedp.Navigate(srv.URL+href), waitVisible(`[data-testid="password-policy"]`))
			if n := eval[int](t, b, `document.querySelectorAll("[data-testid=policy-rules] li").length`); n < 2 {
				t.Errorf("the policy page lists %d rules", n)
			}
			b.noConsoleErrors(t)
			b.axe(t, ex.dir+" password policy")
			b.screenshot(t, "example-"+ex.dir+"-policy")
		})
	}
}

// TestExampleMontpellierContractStaff walks the PASS'UM activation of a
// contract staff member of examples/universite-montpellier, whose
// mailbox must be redirected: the redirection step offers no way out,
// starts from the rescue address just confirmed, and the summary says
// where the mail goes.
func TestExampleMontpellierContractStaff(t *testing.T) {
	t.Parallel()
	srv, smtp := startExample(t, "universite-montpellier")
	b := newBrowser(t)
	submit := `main form:not(.restart) button[type=submit]`
	step := func(n string) {
		t.Helper()
		b.run(t, waitVisible(`[data-testid="activation"][data-step="`+n+`"]`))
		b.axe(t, "PASS'UM activation step "+n)
		b.screenshot(t, "example-universite-montpellier-activation-"+n)
	}

	b.run(t, chromedp.Navigate(srv.URL+"/"), waitVisible("h1"), click(`a[href="/activation"]`))
	step("start")
	if txt := eval[string](t, b, `document.querySelector("main").innerText`); !strings.Contains(txt, "PASS'UM") {
		t.Errorf("the activation page does not speak of PASS'UM: %q", txt)
	}
	b.run(t, sendKeys("#act-identifier", "c05678"), sendKeys("#act-provisional", "Pass-UM-9150"), click(submit))
	step("rescue")
	const rescue = "sonia.haddad@example.org"
	confirmRescue(t, b, smtp, rescue)
	step("charter")
	b.run(t, click("#act-charter"), click(submit))
	step("directory")
	b.run(t, click("#act-dir-no"), click(submit))
	step("redirect")
	// Mandatory: no box to opt out, the rescue address already filled in.
	if n := eval[int](t, b, `document.querySelectorAll("#act-redirect").length`); n != 0 {
		t.Error("a mandatory redirection offers to opt out")
	}
	if v := eval[string](t, b, `document.querySelector("#act-redirect-to").value`); v != rescue {
		t.Errorf("the redirection starts from %q, want the rescue address %q", v, rescue)
	}
	b.run(t, click(submit))
	step("password")
	b.settled(t)
	const pw = "Une tasse de café au Corum"
	typeNewPassword(t, b, pw)
	b.run(t, click(submit))
	step("done")
	if sum := eval[string](t, b, `document.querySelector("dl.summary").textContent`); !strings.Contains(sum, rescue) {
		t.Errorf("the summary does not say where the mail goes: %q", sum)
	}
	b.noConsoleErrors(t)
}
