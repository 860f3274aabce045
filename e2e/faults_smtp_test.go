package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// 1. SMTP down for a while, then back.

// TestFaultSMTPDownThenBack guarantees that mails requested while the relay
// refuses them (421, "try later") all arrive once it accepts again, each
// exactly once, within a bounded time (the outbox retries from 5 s), and
// that step 1 never waits for SMTP.
func TestFaultSMTPDownThenBack(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t)
	smtp.SetDown(true)
	dataDir := t.TempDir()
	env := []string{faultConfig, "SESAME_SMTP_URL=" + smtp.URL.String()}
	importAccounts(t, dataDir, faultAccounts(3), env...)
	srv := startInstance(t, freePort(t), dataDir, env...)

	for i := 1; i <= 3; i++ {
		p := newVisitor(t, "fr").requestCode(srv.URL, faultID(i))
		if p.Took > 3*time.Second {
			t.Errorf("step 1 took %s while SMTP was down: it must not wait for the relay", p.Took)
		}
	}
	// Each of the three mails has been refused at least once.
	srv.waitLog(t, "outcome=retry", 3, 15*time.Second)
	if n := len(smtp.All()); n != 0 {
		t.Fatalf("%d mail(s) arrived while the relay was refusing them", n)
	}
	smtp.SetDown(false)
	start := time.Now()
	for i := 1; i <= 3; i++ {
		waitMails(t, smtp, faultMail(i), 1, 20*time.Second)
	}
	t.Logf("all mails arrived %s after the relay came back", time.Since(start).Round(time.Millisecond))
	waitOutboxEmpty(t, srv.URL, 10*time.Second)
	for i := 1; i <= 3; i++ {
		if n := len(mailsTo(smtp, faultMail(i))); n != 1 {
			t.Errorf("%s received %d mails, want exactly 1", faultMail(i), n)
		}
	}
}

// TestFaultSMTPNotListeningAtFirst guarantees the same when nothing listens
// on the relay's address at first (connection refused) and the relay starts
// only after the requests: every mail arrives exactly once.
func TestFaultSMTPNotListeningAtFirst(t *testing.T) {
	t.Parallel()
	port := freePort(t) // nothing listens there yet
	dataDir := t.TempDir()
	env := []string{faultConfig, fmt.Sprintf("SESAME_SMTP_URL=smtp://127.0.0.1:%d", port)}
	importAccounts(t, dataDir, faultAccounts(3), env...)
	srv := startInstance(t, freePort(t), dataDir, env...)

	for i := 1; i <= 3; i++ {
		newVisitor(t, "fr").requestCode(srv.URL, faultID(i))
	}
	srv.waitLog(t, "outcome=retry", 3, 15*time.Second)

	// The relay starts on the configured address.
	sink := mailtest.Start(t)
	startProxy(t, fmt.Sprintf("127.0.0.1:%d", port), sink.URL.Host)
	for i := 1; i <= 3; i++ {
		waitMails(t, sink, faultMail(i), 1, 20*time.Second)
	}
	waitOutboxEmpty(t, srv.URL, 10*time.Second)
	for i := 1; i <= 3; i++ {
		if n := len(mailsTo(sink, faultMail(i))); n != 1 {
			t.Errorf("%s received %d mails, want exactly 1", faultMail(i), n)
		}
	}
}
