package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// 4. Two instances against one store.

// TestFaultTwoInstances guarantees, with two instances sharing one store
// and one SESAME_SECRET (as behind a load balancer):
//   - the per-identifier limit (5 codes an hour) holds across both, whether
//     requests alternate or arrive at once;
//   - wrong codes count across both: the fifth ends the flow, after which
//     the right code is refused on either; concurrent guesses each cost a try;
//   - with both mail workers running, every outbox message is sent once,
//     also when both retry a backlog as the relay comes back.
func TestFaultTwoInstances(t *testing.T) {
	t.Parallel()
	_, fdbAddr := startFerret(t, t.TempDir())
	smtp := mailtest.Start(t)
	env := []string{faultConfig, "SESAME_SMTP_URL=" + smtp.URL.String(),
		"SESAME_MONGODB_URI=mongodb://" + fdbAddr + "/",
		"SESAME_SECRET=faults-shared-secret-0123456789-abcdefghij"}
	importAccounts(t, t.TempDir(), faultAccounts(13), env...)
	a := startInstance(t, freePort(t), t.TempDir(), env...)
	b := startInstance(t, freePort(t), t.TempDir(), env...)
	insts := []*instance{a, b}
	sent := map[string]int{} // address → codes accepted
	// Limits count in fixed hourly windows: do not straddle one.
	if left := time.Until(time.Now().Truncate(time.Hour).Add(time.Hour)); left < 15*time.Second {
		time.Sleep(left + time.Second)
	}

	t.Run("rate limit alternating", func(t *testing.T) {
		for i := range 6 {
			base := insts[i%2].URL
			// A new browser each time: the same browser sending step 1
			// again within the resend delay gets its request back, no
			// new code (POST/Redirect/GET).
			p, err := newVisitor(t, "fr").tryRequest(base, faultID(1))
			if err != nil {
				t.Fatal(err)
			}
			if i < 5 {
				if p.Status != 200 || p.Step() != "code" {
					t.Fatalf("request %d of 5 for P001 (instance %d): want step 2, got %s", i+1, i%2+1, p)
				}
				sent[faultMail(1)]++
				continue
			}
			if p.Status != 429 || !strings.Contains(p.Text(), "réessayez dans") {
				t.Fatalf("6th request within the hour, on the other instance: want 429 « réessayez dans », got %s", p)
			}
		}
	})

	t.Run("rate limit concurrent", func(t *testing.T) {
		const n = 10
		vs := make([]*visitor, n)
		for i := range vs {
			vs[i] = newVisitor(t, "fr")
			vs[i].csrfFrom(insts[i%2].URL)
		}
		pages := make([]page, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { pages[i], errs[i] = vs[i].tryRequest(insts[i%2].URL, faultID(2)) })
		}
		wg.Wait()
		ok, limited := 0, 0
		for i, p := range pages {
			switch {
			case errs[i] != nil:
				t.Errorf("request %d: %v", i, errs[i])
			case p.Status == 200 && p.Step() == "code":
				ok++
			case p.Status == 429:
				limited++
			default:
				t.Errorf("request %d: %s", i, p)
			}
		}
		sent[faultMail(2)] += ok
		if ok != 5 || limited != n-5 {
			t.Errorf("%d concurrent requests for P002 over two instances: %d accepted, %d refused; want 5 and %d", n, ok, limited, n-5)
		}
	})

	t.Run("attempts alternating", func(t *testing.T) {
		v := newVisitor(t, "fr")
		v.requestCode(a.URL, faultID(3))
		sent[faultMail(3)]++
		code, flow := codeOf(t, waitMails(t, smtp, faultMail(3), 1, 10*time.Second)[0])
		for i := range 4 {
			base := insts[(i+1)%2].URL
			want := fmt.Sprintf("Il vous reste %d essai", 4-i)
			if p := v.enterCode(base, "", wrongCode(code, i)); p.Status != 422 || !strings.Contains(p.Text(), want) {
				t.Fatalf("wrong code %d (instance %d): want 422 « %s », got %s", i+1, (i+1)%2+1, want, p)
			}
		}
		if p := v.enterCode(b.URL, "", wrongCode(code, 4)); !strings.Contains(p.Text(), "Trop d'essais") {
			t.Fatalf("5th wrong code: want « Trop d'essais », got %s", p)
		}
		for i, in := range insts {
			w := newVisitor(t, "fr")
			w.csrfFrom(in.URL)
			if p := w.enterCode(in.URL, flow, code); p.Step() == "password" || !strings.Contains(p.Text(), "Recommencez") {
				t.Errorf("the right code after 5 wrong ones, on instance %d: want it refused, got %s", i+1, p)
			}
			if p := v.enterCode(in.URL, flow, code); p.Step() == "password" {
				t.Errorf("the right code after 5 wrong ones, in the same browser on instance %d, was accepted", i+1)
			}
		}
	})

	t.Run("attempts concurrent", func(t *testing.T) {
		v := newVisitor(t, "fr")
		v.requestCode(b.URL, faultID(4))
		sent[faultMail(4)]++
		code, flow := codeOf(t, waitMails(t, smtp, faultMail(4), 1, 10*time.Second)[0])
		// The same browser (one cookie jar) sends 8 wrong codes at once,
		// half to each instance.
		const n = 8
		pages := make([]page, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				pages[i], errs[i] = v.tryPost(insts[i%2].URL+"/recovery/code",
					url.Values{"kind": {"password"}, "population": {"parents"}, "flow": {flow}, "code": {wrongCode(code, i)}})
			})
		}
		wg.Wait()
		// Each try that was counted says how many remain: no two may say
		// the same, and at most five are counted.
		seen := map[string]int{}
		counted := 0
		for i, p := range pages {
			if errs[i] != nil {
				t.Errorf("guess %d: %v", i, errs[i])
				continue
			}
			txt := p.Text()
			switch {
			case strings.Contains(txt, "Il vous reste"):
				k := txt[strings.Index(txt, "Il vous reste"):]
				k = k[:min(len(k), 24)]
				seen[k]++
				counted++
			case strings.Contains(txt, "Trop d'essais"):
				seen["exhausted"]++
				counted++
			}
			t.Logf("guess %d on instance %d: %d %q", i, i%2+1, p.Status, p.Doc.Find(".error").Text())
		}
		for k, c := range seen {
			if c > 1 {
				t.Errorf("%d concurrent guesses were answered « %s »: a try was counted twice or lost", c, k)
			}
		}
		if counted > 5 {
			t.Errorf("%d concurrent wrong codes were counted, more than the 5 allowed", counted)
		}
		// Spend what is left, then the right code must be refused.
		w := newVisitor(t, "fr")
		w.csrfFrom(a.URL)
		for i := 0; i < 5; i++ {
			p := w.enterCode(insts[i%2].URL, flow, wrongCode(code, i+3))
			if !strings.Contains(p.Text(), "Il vous reste") {
				break
			}
		}
		for i, in := range insts {
			if p := w.enterCode(in.URL, flow, code); p.Step() == "password" {
				t.Errorf("the right code after at least 5 wrong ones, on instance %d, was accepted: %s", i+1, p)
			}
		}
	})

	t.Run("each mail once", func(t *testing.T) {
		// A backlog that both workers retry at the same moment: mails
		// queued on both instances while the relay refuses them.
		smtp.SetDown(true)
		queued := 0
		for i := 5; i <= 6; i++ {
			for _, in := range insts {
				newVisitor(t, "fr").requestCode(in.URL, faultID(i))
				sent[faultMail(i)]++
				queued++
			}
		}
		for i := 10; i <= 13; i++ {
			newVisitor(t, "fr").requestCode(insts[i%2].URL, faultID(i))
			sent[faultMail(i)]++
			queued++
		}
		deadline := time.Now().Add(15 * time.Second)
		for strings.Count(a.Logs()+b.Logs(), "outcome=retry") < queued {
			if time.Now().After(deadline) {
				t.Fatalf("%d refused attempts logged, want %d", strings.Count(a.Logs()+b.Logs(), "outcome=retry"), queued)
			}
			time.Sleep(50 * time.Millisecond)
		}
		smtp.SetDown(false)
		for addr, n := range sent {
			waitMails(t, smtp, addr, n, 20*time.Second)
		}
		waitOutboxEmpty(t, a.URL, 15*time.Second)
		for _, in := range insts {
			if !strings.Contains(in.Logs(), "outcome=sent") {
				t.Errorf("the worker on port %d sent nothing: the test did not run two workers", in.Port)
			}
		}
		ids := map[string]int{}
		for _, m := range smtp.All() {
			ids[m.Header.Get("Message-Id")]++
		}
		for id, n := range ids {
			if n > 1 {
				t.Errorf("message %s was delivered %d times", id, n)
			}
		}
		for addr, n := range sent {
			if got := len(mailsTo(smtp, addr)); got != n {
				t.Errorf("%s received %d mails, want %d (one per accepted request)", addr, got, n)
			}
		}
		// The mail workers and dispatchers logged no error (the concurrent
		// guesses above may have; see "last guess at once").
		for _, in := range insts {
			var bad []string
			for l := range strings.Lines(grepLines(in.Logs(), "level=ERROR")) {
				if !strings.Contains(l, "path=/recovery/code") {
					bad = append(bad, l)
				}
			}
			if len(bad) > 0 {
				t.Errorf("instance on port %d logged errors:\n%s", in.Port, strings.Join(bad, ""))
			}
		}
	})

	t.Run("last guess at once", func(t *testing.T) {
		// The guarantee: whatever arrives together, each guess is answered
		// with a step of the flow (wrong code, too many tries, start
		// again), never an error page. Three rounds, as it is a race.
		for round := range 3 {
			v := newVisitor(t, "fr")
			v.requestCode(a.URL, faultID(7+round))
			code, flow := codeOf(t, waitMails(t, smtp, faultMail(7+round), 1, 10*time.Second)[0])
			for i := range 4 {
				if p := v.enterCode(insts[i%2].URL, "", wrongCode(code, i)); p.Status != 422 {
					t.Fatalf("wrong code %d: want 422, got %s", i+1, p)
				}
			}
			const n = 6
			pages := make([]page, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					pages[i], errs[i] = v.tryPost(insts[i%2].URL+"/recovery/code",
						url.Values{"kind": {"password"}, "population": {"parents"}, "flow": {flow}, "code": {wrongCode(code, i+4)}})
				})
			}
			wg.Wait()
			for i, p := range pages {
				if errs[i] != nil {
					t.Fatalf("round %d, guess %d: %v", round, i, errs[i])
				}
				if p.Status >= 500 {
					t.Errorf("round %d, guess %d racing the last try (instance %d): %s", round, i, i%2+1, p)
				}
			}
		}
	})
}

// grepLines returns the lines of s containing substr.
func grepLines(s, substr string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, substr) {
			out = append(out, strings.TrimRight(l, "\n"))
		}
	}
	return strings.Join(out, "\n")
}
