package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/letters/letterstest"
	"github.com/sesame-edu/sesame/server/paths"
)

// syncBuffer is a log destination the test reads while the app writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// seedDesk adds the console's people of config.example.yaml to the seed:
// a help desk agent (S210), an admin (informatique).
func (a *testApp) seedDesk() {
	a.t.Helper()
	a.seed()
	h := account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	for _, acc := range []account.Account{
		{ID: "s210", Identifier: "S210", Email: "accueil@lycee.example", FirstName: "Nadia", LastName: "Berger", Population: "staff", Status: account.StatusActive},
		{ID: "informatique", Identifier: "informatique", Email: "dsi@lycee.example", FirstName: "Service", LastName: "Informatique", Population: "staff", Status: account.StatusActive},
		{ID: "s300", Identifier: "S300", FirstName: "Marie-Hélène", LastName: "Dupont", Population: "staff", Status: account.StatusPending},
	} {
		acc.PasswordHash, _ = h.Hash(annePassword)
		acc.PasswordSetBy = account.SetByImport
		if err := a.st.Accounts().SaveAccount(context.Background(), acc, ""); err != nil {
			a.t.Fatal(err)
		}
	}
}

func (a *testApp) deskPost(path string, form url.Values) *http.Response {
	a.t.Helper()
	form.Set(csrfField, a.csrfToken(paths.DeskBatch))
	return a.postForm(path, form)
}

// TestDeskIsNotFoundForOthers: every console URL answers 404 to the
// signed-out and to signed-in accounts not in the school's desk list, and
// so does a pending account listed there.
func TestDeskIsNotFoundForOthers(t *testing.T) {
	a := newTestApp(t)
	a.seedDesk()
	urls := []string{paths.Desk, paths.Desk + "?q=durand", paths.DeskPerson + "p001", paths.DeskBatch, paths.DeskImport, paths.Desk + "/nothing"}
	posts := []string{paths.DeskSendCode + "p001", paths.DeskEmail + "p001", paths.DeskLift + "p001",
		paths.DeskEndSessions + "p001", paths.DeskLetter + "p001", paths.DeskBatch, paths.DeskImport, paths.DeskImportConfirm, paths.DeskImportLetters}
	check := func(who string, b *testApp) {
		for _, u := range urls {
			if resp := b.get(u); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: GET %s = %d, want 404", who, u, resp.StatusCode)
			}
		}
		for _, u := range posts {
			if resp := b.postForm(u, url.Values{"current": {annePassword}, "population": {"parents"}}); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: POST %s = %d, want 404", who, u, resp.StatusCode)
			}
		}
	}
	check("signed out", a.browser())
	parent := a.browser()
	if resp := parent.signIn("P003", annePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in P003: %d", resp.StatusCode)
	}
	check("a parent", parent)
	before := a.smtp.All()
	if len(before) != 0 {
		t.Errorf("mails sent: %d", len(before))
	}
}

// TestDeskHelpdesk walks a help desk agent's work: a search with accents
// typed without them, a code sent (the mail arrives; the console never
// shows it), a refusal on an admin's account, a new letter whose PDF holds
// a provisional password that activates the account once while the old
// password stops working, a batch; every action is audited, and the
// provisional password is in no log line and no stored document.
func TestDeskHelpdesk(t *testing.T) {
	letterstest.NeedPDFToText(t)
	logs := &syncBuffer{}
	a, agent := newDeskApp(t, func(o *app.Options) {
		o.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	var pages strings.Builder
	page := func(resp *http.Response, want int) string {
		t.Helper()
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("status %d, want %d:\n%s", resp.StatusCode, want, b)
		}
		pages.Write(b)
		return string(b)
	}

	t.Run("search ignores case and accents", func(t *testing.T) {
		body := page(agent.get(paths.Desk+"?q="+url.QueryEscape("helene DUPONT")), http.StatusOK)
		if !strings.Contains(body, "Marie-Hélène Dupont") || !strings.Contains(body, paths.DeskPerson+"s300") {
			t.Errorf("search helene DUPONT:\n%s", body)
		}
		body = page(agent.get(paths.Desk+"?q=durand@exam"), http.StatusOK)
		if !strings.Contains(body, "P001") || !strings.Contains(body, "P002") || !strings.Contains(body, "f•••@example.fr") {
			t.Errorf("search by part of an address:\n%s", body)
		}
		if strings.Contains(body, anneMail) {
			t.Error("a search shows an address unmasked")
		}
	})

	t.Run("send a code", func(t *testing.T) {
		body := page(agent.deskPost(paths.DeskSendCode+"p003", url.Values{}), http.StatusOK)
		if !strings.Contains(body, `data-testid="desk-notice"`) {
			t.Fatalf("no notice:\n%s", body)
		}
		m := a.smtp.Wait("leo.martin@example.fr", 1, 10*time.Second)
		code := m.Code()
		if code == "" {
			t.Fatalf("mail without a code:\n%s", m.Text)
		}
		// The dispatcher audits the code just after queueing its mail.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			body = page(agent.get(paths.DeskPerson+"p003"), http.StatusOK)
			if strings.Contains(body, "code envoyé par e-mail") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the person's page does not list the request:\n%s", body)
			}
		}
		if strings.Contains(pages.String(), code) {
			t.Error("a console page shows the code")
		}
		// The office speaks of « Parents d'élèves », not of the chooser's
		// « Je suis parent d'élève ».
		if got := strings.TrimSpace(doc(t, agent.get(paths.DeskPerson+"p003")).Find(`[data-testid="desk-population"]`).Text()); got != "Parents d'élèves" {
			t.Errorf("the person's population reads %q", got)
		}
		// A pending account gets no code, and the agent is told why.
		body = page(agent.deskPost(paths.DeskSendCode+"s300", url.Values{}), http.StatusUnprocessableEntity)
		if !strings.Contains(body, "pas activé") {
			t.Errorf("pending account:\n%s", body)
		}
	})

	t.Run("a help desk agent cannot act on an admin", func(t *testing.T) {
		for _, p := range []string{paths.DeskSendCode, paths.DeskLift, paths.DeskEndSessions, paths.DeskLetter} {
			page(agent.deskPost(p+"informatique", url.Values{"current": {annePassword}}), http.StatusForbidden)
		}
		body := page(agent.get(paths.DeskPerson+"informatique"), http.StatusOK)
		if !strings.Contains(body, `data-testid="desk-no-act"`) || strings.Contains(body, paths.DeskLetter) {
			t.Errorf("an admin's page offers actions to a help desk agent:\n%s", body)
		}
	})

	var provisional string
	t.Run("a new letter", func(t *testing.T) {
		page(agent.deskPost(paths.DeskLetter+"p003", url.Values{"current": {"wrong"}}), http.StatusUnprocessableEntity)
		resp := agent.deskPost(paths.DeskLetter+"p003", url.Values{"current": {annePassword}})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("letter: %d %v", resp.StatusCode, resp.Header)
		}
		pdf, _ := io.ReadAll(resp.Body)
		text := letterstest.Text(t, pdf)
		provisional = provisionalIn(t, text)
		for _, want := range []string{"Votre Sésame", "P003", "Léo Martin", "http://sesame.test/activation", "Valable jusqu"} {
			if !strings.Contains(text, want) {
				t.Errorf("the letter lacks %q:\n%s", want, text)
			}
		}
		if r := a.browser().signIn("P003", annePassword); r.StatusCode == http.StatusSeeOther {
			t.Error("the previous password still signs in")
		}
		acc, err := a.st.Accounts().GetAccount(context.Background(), "p003")
		if err != nil || acc.Status != account.StatusPending || acc.ProvisionalUntil.IsZero() {
			t.Fatalf("account after the letter: %+v, %v", acc, err)
		}
		// The provisional password activates the account once.
		b := a.browser()
		r := b.postForm(paths.ActivationStart, url.Values{csrfField: {b.csrfToken(paths.Activation)}, "identifier": {"P003"}, "password": {provisional}})
		if r.StatusCode != http.StatusSeeOther && r.StatusCode != http.StatusOK {
			t.Errorf("activation start with the letter: %d", r.StatusCode)
		}
		if d := doc(t, r); d.Find(`[data-step="rescue"]`).Length() == 0 && r.StatusCode == http.StatusOK {
			h, _ := d.Html()
			t.Errorf("activation did not start:\n%s", h)
		}
	})

	t.Run("a batch for a population", func(t *testing.T) {
		resp := agent.deskPost(paths.DeskBatch, url.Values{"current": {annePassword}, "population": {"staff"}})
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("batch: %d\n%s", resp.StatusCode, b)
		}
		pdf, _ := io.ReadAll(resp.Body)
		text := letterstest.Text(t, pdf)
		// S100 and S300 are pending staff; one page each (pdftotext
		// separates pages with a form feed), by name: Dupont, Noël.
		if n := strings.Count(text, "\f"); n != 2 {
			t.Errorf("%d pages, want 2:\n%s", n, text)
		}
		if i, j := strings.Index(text, "S300"), strings.Index(text, "S100"); i < 0 || j < 0 || i > j {
			t.Errorf("not one letter each, by name:\n%s", text)
		}
	})

	t.Run("every action is audited", func(t *testing.T) {
		body := page(agent.get(paths.DeskPerson+"p003"), http.StatusOK)
		for _, want := range []string{"code envoyé", "lettre imprimée", "s210", "203.0.113.7"} {
			if !strings.Contains(body, want) {
				t.Errorf("the history lacks %q", want)
			}
		}
		n, err := a.st.DB().Collection("audit").CountDocuments(context.Background(), bson.D{{Key: "actor", Value: "s210"}, {Key: "accountId", Value: "informatique"}, {Key: "outcome", Value: "forbidden"}})
		if err != nil || n != 4 {
			t.Errorf("refused attempts audited: %d, %v", n, err)
		}
	})

	t.Run("the provisional password is nowhere but the PDF", func(t *testing.T) {
		if provisional == "" {
			t.Skip("no letter")
		}
		if strings.Contains(logs.String(), provisional) {
			t.Error("a log line holds the provisional password")
		}
		if strings.Contains(pages.String(), provisional) {
			t.Error("a console page holds the provisional password")
		}
		ctx := context.Background()
		names, err := a.st.DB().ListCollectionNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range names {
			cur, err := a.st.DB().Collection(c).Find(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			for cur.Next(ctx) {
				if bytes.Contains(cur.Current, []byte(provisional)) {
					t.Errorf("collection %s stores the provisional password", c)
				}
			}
			cur.Close(ctx)
		}
	})
}

var provisionalRE = regexp.MustCompile(`(?:provisoire|password)\s*:\s+([a-z2-9]{13})\b`)

// provisionalIn finds the provisional password in a letter's text.
func provisionalIn(t *testing.T, text string) string {
	t.Helper()
	m := provisionalRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no provisional password in the letter:\n%s", text)
	}
	return m[1]
}
