package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/paths"
)

// stepDoc parses the #recovery-step of a step's answer.
func stepDoc(t *testing.T, html string) *goquery.Selection {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	return d.Find("#recovery-step")
}

// TestRecoverySmallerPoints holds issue 16's smaller recovery points (item
// 13): « Continuer » fills in the identifier; the pages are titled as their
// step, each with an h1; dead ends show the population's help desk and
// « Recommencer » goes back to its step 1; the rate-limit page does not
// offer « Recommencer » while asking to wait.
func TestRecoverySmallerPoints(t *testing.T) {
	a := newTestApp(t)
	a.seed()

	t.Run("the forgotten-identifier page", func(t *testing.T) {
		d := doc(t, a.browser().get(paths.RecoveryIdentifier+"?population=parents"))
		if title := d.Find("title").Text(); !strings.HasPrefix(title, "Identifiant oublié") {
			t.Errorf("title %q", title)
		}
		if h1 := d.Find("h1").Text(); h1 != "Identifiant oublié" {
			t.Errorf("h1 %q", h1)
		}
	})

	t.Run("every full page has an h1", func(t *testing.T) {
		b := a.browser()
		for _, path := range []string{paths.Recovery, paths.Recovery + "?population=parents", paths.RecoveryIdentifier} {
			if n := doc(t, b.get(path)).Find("h1").Length(); n != 1 {
				t.Errorf("%s: %d h1", path, n)
			}
		}
		_, html := b.request("parents", "P003")
		if !strings.Contains(html, "<h1") {
			t.Errorf("step 2 as a page has no h1: %s", html)
		}
	})
	// The first code must have arrived before the second is asked: the
	// outbox's senders work in parallel, so two mails queued close together
	// may reach the SMTP server in either order, and « the second mail » would
	// then be the first request's code (CI saw it once under -race).
	a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second)

	// The second code for P003 (the h1 test above asked the first).
	b := a.browser()
	b.request("parents", "P003")
	m := a.smtp.Wait("leo.martin@example.fr", 2, 5*time.Second)
	link, _ := url.Parse(m.Links()[0])
	b.step(paths.RecoveryCode, url.Values{"code": {m.Code()}})

	t.Run("the link page is titled as its step", func(t *testing.T) {
		d := doc(t, b.get(link.RequestURI()))
		if title := d.Find("title").Text(); !strings.HasPrefix(title, "Choisissez un nouveau mot de passe") {
			t.Errorf("the link page at step 3 is titled %q", title)
		}
	})

	t.Run("« Continuer » fills in the identifier", func(t *testing.T) {
		_, html := b.step(paths.RecoveryPassword, url.Values{"password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
		href, _ := stepDoc(t, html).Find(`[data-testid="recovery-continue"]`).Attr("href")
		if href != paths.Login+"?identifier=P003" {
			t.Fatalf("« Continuer » goes to %q", href)
		}
		d := doc(t, a.browser().get(href))
		if v, _ := d.Find("#identifier").Attr("value"); v != "P003" {
			t.Errorf("the sign-in page shows %q", v)
		}
	})

	t.Run("a dead end keeps the population", func(t *testing.T) {
		resp, html := a.browser().step(paths.RecoveryCode, url.Values{"kind": {"password"}, "population": {"parents"}, "flow": {"gone"}, "code": {"ABCDEF"}})
		st := stepDoc(t, html)
		if st.AttrOr("data-step", "") != "dead-end" {
			t.Fatalf("step %q (%d)", st.AttrOr("data-step", ""), resp.StatusCode)
		}
		if href, _ := st.Find(".help-line a").Attr("href"); href != "/help/parents" {
			t.Errorf("the dead end's help is %q; want the parents' desk", href)
		}
		if pop, _ := st.Find(`form[action="/recovery/restart"] input[name=population]`).Attr("value"); pop != "parents" {
			t.Errorf("« Recommencer » goes back to population %q", pop)
		}
		_, html = a.browser().step(paths.RecoveryRestart, url.Values{"kind": {"password"}, "population": {"parents"}})
		if st := stepDoc(t, html); st.AttrOr("data-step", "") != "request" || !strings.Contains(st.Text(), "Je suis parent d'élève") {
			t.Errorf("« Recommencer » leads to %q: %s", st.AttrOr("data-step", ""), st.Text())
		}
	})

	t.Run("the rate-limit page asks to wait, without « Recommencer »", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			a.browser().request("parents", "P001")
		}
		resp, html := a.browser().request("parents", "P001")
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d", resp.StatusCode)
		}
		st := stepDoc(t, html)
		if st.Find(`form[action="/recovery/restart"]`).Length() != 0 {
			t.Error("the rate-limit page offers « Recommencer »")
		}
		if st.Find(`[data-testid="back-to-sign-in"]`).Length() != 1 || !strings.Contains(st.Text(), "réessayez dans") {
			t.Errorf("the rate-limit page: %s", st.Text())
		}
	})
}

// TestActivationDirectoryText: the directory step speaks of the school
// address only to those who get one; an elected official has none (issue
// 16, item 13).
func TestActivationDirectoryText(t *testing.T) {
	a := newTestApp(t)
	a.seedStaff()
	h := account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	o := account.Account{ID: "o401", Identifier: "O401", FirstName: "Jean", LastName: "Vidal", Population: "officials", Status: account.StatusPending}
	o.PasswordHash, _ = h.Hash(provisional)
	o.PasswordSetBy = account.SetByImport
	if err := a.st.Accounts().SaveAccount(context.Background(), o, ""); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id, rescue  string
		wantAddress bool
	}{
		{"O401", "jean.vidal@example.org", false},
		{"S200", "mh.dupont@example.org", true},
	} {
		b := a.browser()
		b.act(paths.ActivationStart, url.Values{"identifier": {tt.id}, "password": {provisional}})
		b.act(paths.ActivationRescue, url.Values{"email": {tt.rescue}})
		b.confirmLink(t, tt.rescue, 1)
		_, d := b.act(paths.ActivationCharter, url.Values{"accept": {"yes"}})
		if stepNum(d) != "directory" {
			t.Fatalf("%s: step %s", tt.id, stepNum(d))
		}
		hint := d.Find(".hint").Last().Text()
		if got := strings.Contains(hint, "adresse"); got != tt.wantAddress {
			t.Errorf("%s: the directory's text %q speaks of an address: %v, want %v", tt.id, hint, got, tt.wantAddress)
		}
	}
}

// TestRecoveryEndStaysWithItsRequest: the end of a forgotten-identifier
// request, left for the page after the redirect, is shown there only; a
// browser that opens the password recovery instead starts it, and is
// never told that a password was changed.
func TestRecoveryEndStaysWithItsRequest(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	b := a.browser()
	resp := b.postForm(paths.RecoveryRequest, url.Values{csrfField: {b.csrfToken(paths.RecoveryIdentifier + "?population=parents")},
		"kind": {"identifier"}, "population": {"parents"}, "input": {"leo.martin@example.fr"}, "consent": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != paths.RecoveryIdentifier {
		t.Fatalf("identifier request: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	d := doc(t, b.get(paths.Recovery))
	if txt := d.Find("main").Text(); strings.Contains(txt, "modifié") || d.Find(`[data-step="done"]`).Length() > 0 {
		t.Errorf("the password recovery after an identifier request says it is over:\n%s", txt)
	}
	// On its own page, the end is shown as before.
	b2 := a.browser()
	b2.postForm(paths.RecoveryRequest, url.Values{csrfField: {b2.csrfToken(paths.RecoveryIdentifier + "?population=parents")},
		"kind": {"identifier"}, "population": {"parents"}, "input": {"leo.martin@example.fr"}, "consent": {"yes"}})
	if d := doc(t, b2.get(paths.RecoveryIdentifier)); d.Find(`[data-step="done"]`).Length() == 0 {
		t.Errorf("the identifier request's end is not shown on its page:\n%s", d.Find("main").Text())
	}
}

// TestCodeStepSpeaksOfParentsToPupilsOnly: « il est envoyé à vos
// parents » is for a population whose accounts may have guardians, not for
// the parents themselves.
func TestCodeStepSpeaksOfParentsToPupilsOnly(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	for _, tt := range []struct {
		population, input string
		want              bool
	}{
		{"parents", "P003", false},
		{"students", "E500", true},
	} {
		_, html := a.browser().request(tt.population, tt.input)
		if !strings.Contains(html, `data-step="code"`) {
			t.Fatalf("%s: not at the code step:\n%s", tt.population, html)
		}
		if got := strings.Contains(html, "envoyé à vos parents"); got != tt.want {
			t.Errorf("%s: the code step speaks of parents: %v, want %v", tt.population, got, tt.want)
		}
	}
}
