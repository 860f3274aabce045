package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/letters/letterstest"
	"github.com/sesame-edu/sesame/server/paths"
)

// auditCount counts the audit rows of one console action by the agent on
// one account with one outcome.
func (a *testApp) auditCount(action, agent, id, outcome string) int64 {
	a.t.Helper()
	n, err := a.st.DB().Collection("audit").CountDocuments(context.Background(), bson.D{
		{Key: "action", Value: action}, {Key: "actor", Value: agent}, {Key: "accountId", Value: id}, {Key: "outcome", Value: outcome}})
	if err != nil {
		a.t.Fatal(err)
	}
	return n
}

// newDeskApp is a test app with the console's people, and the help desk
// agent S210 signed in; opts as for newTestApp.
func newDeskApp(t *testing.T, opts ...func(*app.Options)) (a, agent *testApp) {
	t.Helper()
	a = newTestApp(t, opts...)
	a.seedDesk()
	agent = a.browser()
	if resp := agent.signIn("S210", annePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("agent sign-in: %d", resp.StatusCode)
	}
	return a, agent
}

func bodyOf(t *testing.T, resp *http.Response, want int) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d:\n%s", resp.StatusCode, want, b)
	}
	return string(b)
}

// TestDeskActions: the console's other actions do what the person needs
// and nothing more, each with its audit row. A corrected address changes
// nothing until the link mailed to it is used; lifting a throttle lets the
// right password in at once; ending the sessions signs the person out of
// every browser.
func TestDeskActions(t *testing.T) {
	ctx := context.Background()

	t.Run("correct the address", func(t *testing.T) {
		a, agent := newDeskApp(t)
		// A malformed address is refused with words, and nothing is mailed.
		body := bodyOf(t, agent.deskPost(paths.DeskEmail+"p003", url.Values{"email": {"leo.nouveau@"}}), http.StatusUnprocessableEntity)
		if !strings.Contains(body, "leo.nouveau@") {
			t.Errorf("the refused address is not kept in its field:\n%s", body)
		}
		const corrected = "leo.nouveau@example.net"
		bodyOf(t, agent.deskPost(paths.DeskEmail+"p003", url.Values{"email": {corrected}}), http.StatusOK)
		m := a.smtp.Wait(corrected, 1, 5*time.Second)
		if len(m.Links()) == 0 {
			t.Fatalf("the corrected address gets no link:\n%s", m.Text)
		}
		if acc, err := a.st.Accounts().GetAccount(ctx, "p003"); err != nil || acc.Email != "leo.martin@example.fr" {
			t.Fatalf("the address changed before its link was used: %q, %v", acc.Email, err)
		}
		if strings.Contains(agent.deskPage(t, "p003"), m.Links()[0]) {
			t.Error("the console shows the confirmation link")
		}
		link, _ := url.Parse(m.Links()[0])
		a.submitLink(t, link)
		if acc, err := a.st.Accounts().GetAccount(ctx, "p003"); err != nil || acc.Email != corrected {
			t.Fatalf("after the link: %q, %v", acc.Email, err)
		}
		if n := a.auditCount("desk."+desk.ActionEmail, "s210", "p003", "link_sent"); n != 1 {
			t.Errorf("%d audit rows for the corrected address, want 1", n)
		}
	})

	t.Run("lift a throttle", func(t *testing.T) {
		a, agent := newDeskApp(t)
		for range 6 {
			a.browser().signIn("P003", "wrong-password")
		}
		if resp := a.browser().signIn("P003", annePassword); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("not throttled after 6 wrong passwords: %d", resp.StatusCode)
		}
		bodyOf(t, agent.deskPost(paths.DeskLift+"p003", url.Values{}), http.StatusOK)
		if resp := a.browser().signIn("P003", annePassword); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the right password after the lift: %d", resp.StatusCode)
		}
		if n := a.auditCount("desk."+desk.ActionLift, "s210", "p003", "ok"); n != 1 {
			t.Errorf("%d audit rows for the lift, want 1", n)
		}
	})

	t.Run("end every session", func(t *testing.T) {
		a, agent := newDeskApp(t)
		phone, laptop := a.browser(), a.browser()
		for _, b := range []*testApp{phone, laptop} {
			if resp := b.signIn("P003", annePassword); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in: %d", resp.StatusCode)
			}
			if resp := b.get(paths.Account); resp.StatusCode != http.StatusOK {
				t.Fatalf("personal page while signed in: %d", resp.StatusCode)
			}
		}
		bodyOf(t, agent.deskPost(paths.DeskEndSessions+"p003", url.Values{}), http.StatusOK)
		for _, b := range []*testApp{phone, laptop} {
			if resp := b.get(paths.Account); resp.StatusCode == http.StatusOK {
				t.Error("a browser is still signed in after the console ended every session")
			}
		}
		// The agent's own session is not the person's: it goes on.
		if resp := agent.get(paths.DeskPerson + "p003"); resp.StatusCode != http.StatusOK {
			t.Errorf("the agent's console after ending the person's sessions: %d", resp.StatusCode)
		}
		if n := a.auditCount("desk."+desk.ActionEndSessions, "s210", "p003", "ok"); n != 1 {
			t.Errorf("%d audit rows for ending the sessions, want 1", n)
		}
	})

	t.Run("a double click sends one code", func(t *testing.T) {
		a, agent := newDeskApp(t)
		bodyOf(t, agent.deskPost(paths.DeskSendCode+"p003", url.Values{}), http.StatusOK)
		body := bodyOf(t, agent.deskPost(paths.DeskSendCode+"p003", url.Values{}), http.StatusUnprocessableEntity)
		if !strings.Contains(body, "Un code vient d&#39;être demandé pour ce compte") && !strings.Contains(body, "Un code vient d'être demandé pour ce compte") {
			t.Errorf("the second click is not told to wait:\n%s", body)
		}
		a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second)
		time.Sleep(500 * time.Millisecond) // a second code would be mailed by now
		if n := a.smtp.Count("leo.martin@example.fr"); n != 1 {
			t.Errorf("%d codes mailed for a double click, want 1", n)
		}
		// A minute later, the office may send another.
		a.advance(61 * time.Second)
		bodyOf(t, agent.deskPost(paths.DeskSendCode+"p003", url.Values{}), http.StatusOK)
		a.smtp.Wait("leo.martin@example.fr", 2, 5*time.Second)
	})

	t.Run("a console idle for 15 minutes ends", func(t *testing.T) {
		a, agent := newDeskApp(t)
		agent.deskPage(t, "p003")
		a.advance(desk.IdleTimeout - 2*time.Minute)
		agent.deskPage(t, "p003")
		a.advance(desk.IdleTimeout + time.Minute)
		resp := agent.get(paths.DeskPerson + "p003")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != paths.Home {
			t.Fatalf("after 16 idle minutes: %d to %q, want 303 to the sign-in", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp := agent.get(paths.DeskPerson + "p003"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("the ended console session still opens the console: %d", resp.StatusCode)
		}
	})

	t.Run("a letter's password stops working after valid_days", func(t *testing.T) {
		letterstest.NeedPDFToText(t)
		a, agent := newDeskApp(t)
		resp := agent.deskPost(paths.DeskLetter+"p003", url.Values{"current": {annePassword}})
		pdf, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("letter: %d", resp.StatusCode)
		}
		provisional := provisionalIn(t, letterstest.Text(t, pdf))
		// config.example.yaml: letters.valid_days is 30, to the end of
		// that day.
		a.advance(31*24*time.Hour + time.Minute)
		b := a.browser()
		r := b.postForm(paths.ActivationStart, url.Values{csrfField: {b.csrfToken(paths.Activation)}, "identifier": {"P003"}, "password": {provisional}})
		// Every full-page post answers with a redirect (POST/Redirect/GET).
		if r.StatusCode == http.StatusSeeOther {
			r = b.follow(r)
		}
		d := doc(t, r)
		// Refused in the words of a wrong pair, like every refusal there;
		// the audit alone says why.
		if d.Find(`[data-step="rescue"]`).Length() > 0 || !strings.Contains(d.Text(), "ne correspondent pas") {
			h, _ := d.Html()
			t.Fatalf("an expired letter's password is not refused:\n%s", h)
		}
		n, err := a.st.DB().Collection("audit").CountDocuments(ctx, bson.D{{Key: "accountId", Value: "p003"}, {Key: "outcome", Value: "provisional_expired"}})
		if err != nil || n != 1 {
			t.Errorf("%d audit rows say the letter expired, want 1 (%v)", n, err)
		}
	})
}

// deskPage opens a person's page in the console.
func (a *testApp) deskPage(t *testing.T, id string) string {
	t.Helper()
	return bodyOf(t, a.get(paths.DeskPerson+id), http.StatusOK)
}
