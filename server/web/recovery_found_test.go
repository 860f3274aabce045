package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sesame-edu/sesame/server/paths"
)

// TestRecoveryRequestNothingCame covers issue 16's « Un code vous a été
// envoyé » and nothing ever comes: a pending account's address is told how
// to activate, an account of another population than the one picked is
// still found, and step 2 shows what was typed with « Modifier ».
func TestRecoveryRequestNothingCame(t *testing.T) {
	a := newTestApp(t)
	a.seed()

	t.Run("pending account", func(t *testing.T) {
		b := a.browser()
		_, pending := b.request("staff", "S100")
		_, active := a.browser().request("staff", "S999")
		// The screen is the same as for an account that does not exist.
		if strip(pending, "S100") != strip(active, "S999") {
			t.Errorf("the screen differs for a pending account:\n%s\n---\n%s", pending, active)
		}
		m := a.smtp.Wait("eric.noel@example.fr", 1, 5*time.Second)
		if m.Code() != "" || !strings.Contains(m.Text, "pas encore activé") || !strings.Contains(m.Text, "S100") {
			t.Fatalf("mail to the pending account:\n%s", m.Text)
		}
		if links := m.Links(); len(links) != 1 || !strings.Contains(links[0], paths.Activation+"?identifier=S100") {
			t.Errorf("links %v; want the activation with the identifier", links)
		}
	})

	t.Run("another population", func(t *testing.T) {
		// Léo Martin is a parent; he clicked « Je suis élève ».
		b := a.browser()
		b.request("students", "leo.martin@example.fr")
		code := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second).Code()
		_, html := b.step(paths.RecoveryCode, url.Values{"code": {code}})
		if !strings.Contains(html, `data-step="password"`) || !strings.Contains(html, `value="P003"`) {
			t.Fatalf("the code of a parent asked as a student: %s", html)
		}
	})

	t.Run("a typo is shown with Modifier", func(t *testing.T) {
		b := a.browser()
		_, html := b.request("parents", "famille.durand@exemple.fr")
		d, _ := goquery.NewDocumentFromReader(strings.NewReader(html))
		if got := d.Find(`[data-testid="sent-for"]`).Text(); got != "famille.durand@exemple.fr" {
			t.Errorf("step 2 shows %q; want what was typed", got)
		}
		// Reloading the page shows it too.
		d = doc(t, b.get(paths.Recovery))
		if got := d.Find(`[data-testid="sent-for"]`).Text(); got != "famille.durand@exemple.fr" {
			t.Errorf("step 2 after a reload shows %q", got)
		}
		edit := d.Find(`form.sent-to`)
		if edit.Find("button").Text() != "Modifier" {
			t.Fatalf("no « Modifier »: %q", edit.Text())
		}
		form := url.Values{}
		edit.Find("input[type=hidden]").Each(func(_ int, in *goquery.Selection) {
			form.Set(in.AttrOr("name", ""), in.AttrOr("value", ""))
		})
		_, html = b.step(edit.AttrOr("action", ""), form)
		d, _ = goquery.NewDocumentFromReader(strings.NewReader(html))
		if v := d.Find("#rec-input").AttrOr("value", ""); v != "famille.durand@exemple.fr" || !strings.Contains(html, `data-step="request"`) {
			t.Errorf("« Modifier » shows step %q with %q; want step 1 with what was typed", d.Find("#recovery-step").AttrOr("data-step", ""), v)
		}
		if d.Find(`input[name="population"]`).AttrOr("value", "") != "parents" {
			t.Error("« Modifier » lost the population")
		}
		// Another browser, holding only the mailed link, never sees it.
		if strings.Contains(doc(t, a.browser().get(paths.Recovery+"?population=parents")).Text(), "exemple.fr") {
			t.Error("another browser sees what was typed")
		}
	})
}

// strip removes what the person typed and the per-request values from a
// step, to compare two answers.
func strip(html, typed string) string {
	html = strings.ReplaceAll(html, typed, "")
	d, _ := goquery.NewDocumentFromReader(strings.NewReader(html))
	d.Find(`input[type=hidden]`).Remove()
	out, _ := d.Html()
	return out
}
