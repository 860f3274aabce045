package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/web"
)

// work is what one request made the server do: the store commands it
// sent, by name and collection, in order, and its argon2id derivations.
type work struct {
	commands []string
	hashes   uint64
}

func (w work) String() string {
	return fmt.Sprintf("%d hashes; %s", w.hashes, strings.Join(w.commands, ", "))
}

// workOf sends req from a fresh browser and records the work it caused.
// The app runs without its background work, so that everything the store
// sees comes from the request.
func workOf(t *testing.T, a *testApp, guard *web.CSRFGuard, build func(token string) *http.Request) (work, int) {
	t.Helper()
	var mu sync.Mutex
	var w work
	b, token := freshBrowser(a, guard)
	req := build(token)
	h0 := a.hasher.Derivations()
	stop := a.st.Observe(func(c store.Command) {
		// Raising a rate limit's counter happens every few ranks of a
		// key (store.Limits.Hit), whoever asks: not the input's doing.
		if c.Name == "update" && c.Collection == "rate_limits" {
			return
		}
		mu.Lock()
		w.commands = append(w.commands, c.String())
		mu.Unlock()
	})
	resp := b.do(req)
	stop()
	resp.Body.Close()
	w.hashes = a.hasher.Derivations() - h0
	return w, resp.StatusCode
}

// TestSameWorkWhateverTheInput is the counted half of the enumeration
// tests: for an identifier or address that exists and for one that does
// not, a recovery request and a refused sign-in send the same store
// commands on the same collections in the same order, and derive the same
// number of hashes. Unlike the timing tests (timing_test.go), it cannot
// fail by chance: it counts, so it runs everywhere, -race included. What it
// cannot see — a lookup that costs more for a document that exists — is
// left to the timing tests' statistics.
func TestSameWorkWhateverTheInput(t *testing.T) {
	a := startTestApp(t, false, func(o *app.Options) {
		o.School.Recovery.RequestsPerIPHour = 1 << 30
		o.Throttles = app.Throttles{PerAccountSource: 5, PerAccount: 1 << 30, PerSource: 1 << 30}
	})
	seedTiming(t, a, account.NewHasher(timingParams, 1), 60)
	guard := web.NewCSRFGuard(keys.Derive([]byte("test-secret-test-secret-test-secret"), "csrf"), false)
	recoveryOf := func(input string) func(string) *http.Request {
		return func(token string) *http.Request {
			return formRequest(paths.RecoveryRequest, url.Values{csrfField: {token}, "kind": {"password"}, "population": {"parents"}, "input": {input}, "consent": {"yes"}})
		}
	}
	identifierOf := func(input string) func(string) *http.Request {
		return func(token string) *http.Request {
			return formRequest(paths.RecoveryRequest, url.Values{csrfField: {token}, "kind": {"identifier"}, "population": {"parents"}, "input": {input}, "consent": {"yes"}})
		}
	}
	signInOf := func(input string) func(string) *http.Request {
		return func(token string) *http.Request {
			return formRequest(paths.Login, url.Values{csrfField: {token}, "identifier": {input}, "password": {"wrong-password-42"}})
		}
	}
	tests := []struct {
		name              string
		request           func(input string) func(string) *http.Request
		existing, unknown string
	}{
		{"recovery by identifier", recoveryOf, "T%04d", "U%04d"},
		{"recovery by address", recoveryOf, "t%04d@example.fr", "u%04d@example.fr"},
		{"forgotten identifier", identifierOf, "t%04d@example.fr", "u%04d@example.fr"},
		{"sign-in, wrong password", signInOf, "T%04d", "U%04d"},
		{"sign-in by address, wrong password", signInOf, "t%04d@example.fr", "u%04d@example.fr"},
	}
	const perTest = 10
	for k, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first work
			var firstInput string
			for i := range perTest {
				// Alternate, so that a path that leaves state behind (a
				// counter, a cache) shows as a difference too. Each
				// subtest has accounts of its own, never asked for before.
				format := tt.existing
				if i%2 == 1 {
					format = tt.unknown
				}
				input := fmt.Sprintf(format, k*perTest+i)
				w, status := workOf(t, a, guard, tt.request(input))
				// Accepted without JavaScript: 303 to the page of the next
				// step (POST/Redirect/GET).
				if status != http.StatusOK && status != http.StatusSeeOther {
					t.Fatalf("%s: status %d", input, status)
				}
				switch {
				case i < 2:
					// The first pair warms what every request shares
					// (the client address's limits).
				case i == 2:
					first, firstInput = w, input
					if len(w.commands) == 0 {
						t.Fatalf("%s: no store command seen: the observer is not wired", input)
					}
				case !slices.Equal(w.commands, first.commands) || w.hashes != first.hashes:
					t.Errorf("%s does other work than %s:\n got  %v\n want %v", input, firstInput, w, first)
				}
			}
		})
	}
}
