package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/store"
)

// periodicScans are the commands that may read a whole collection: each
// runs on a timer, never once per request, and reads a collection that
// holds only live work (the outbox and the logout queues keep only what is
// still to send; the flows' scan finds those a full queue or a crash left
// behind).
var periodicScans = map[string]string{
	"find mail_outbox (scan)":      "the mail worker's poll for due mails",
	"find recovery_flows (scan)":   "the dispatcher's scan for flows left pending",
	"delete recovery_flows (scan)": "the sweep of expired flows",
	"find oidc_logouts (scan)":     "the back-channel logout worker's poll for logout tokens due (the queue holds only undelivered ones)",
	"find cas_logouts (scan)":      "the CAS single logout sender's poll for requests due (the queue holds only undelivered ones)",
}

// TestHotPathsReadByID walks what people do most — the recovery form,
// step 1, the mailed code, step 2, step 3, signing in, their page — and
// fails on any command of theirs that selects documents by something else
// than exactly {_id: …}: on the embedded store such a command reads and
// decodes every document of its collection, so one that slips onto a hot
// path makes the server slower with every account and every request
// (store.Command.ByID). It counts, so it cannot fail by chance.
func TestHotPathsReadByID(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	var mu sync.Mutex
	seen := map[string]int{}
	stop := a.st.Observe(func(c store.Command) {
		mu.Lock()
		seen[c.String()]++
		mu.Unlock()
	})
	b := a.browser()
	b.get(paths.Recovery + "?population=parents")
	b.request("parents", "P003")
	code := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second).Code()
	if _, html := b.step(paths.RecoveryCode, url.Values{"code": {code}}); !strings.Contains(html, `data-step="password"`) {
		t.Fatalf("code refused: %s", html)
	}
	const pw = "Trois chats sur le toit 42"
	if _, html := b.step(paths.RecoveryPassword, url.Values{"password": {pw}, "confirm": {pw}}); !strings.Contains(html, `data-step="done"`) {
		t.Fatalf("step 3 refused: %s", html)
	}
	if resp := b.signIn("P003", pw); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if resp := b.get(paths.Account); resp.StatusCode != http.StatusOK {
		t.Fatalf("personal page: %d", resp.StatusCode)
	}
	b.signIn("P003", "wrong-password-42")
	stop()

	mu.Lock()
	defer mu.Unlock()
	total := 0
	for cmd, n := range seen {
		total += n
		if strings.HasSuffix(cmd, "(scan)") && periodicScans[cmd] == "" {
			t.Errorf("%s ×%d: a request reads a whole collection", cmd, n)
		}
	}
	if total < 20 {
		t.Fatalf("only %d commands seen: the observer is not wired (%v)", total, seen)
	}
}
