package mail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	from   = &netmail.Address{Name: "Collège Jean Moulin", Address: "noreply@school.example"}
)

func codeMessage(code string) mail.Message {
	return mail.Message{
		To: "Anne Durand <anne.durand@example.fr>", Subject: "Votre code Sésame",
		Text: "Bonjour,\n\nVotre code : " + code + "\n", HTML: "<p>Bonjour,</p><p>Votre code : <b>" + code + "</b></p>",
		Lang: "fr", Kind: "recovery_code", AccountID: "p001",
	}
}

// fast makes retries quick enough for tests.
var fast = mail.WorkerOptions{Poll: 20 * time.Millisecond, FirstRetry: 50 * time.Millisecond, MaxRetry: 100 * time.Millisecond}

func smtpSender(t *testing.T, rawURL string) *mail.SMTPSender {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	s, err := mail.NewSMTPSender(u, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tWriter sends the worker's log to the test's.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// runWorker runs a worker until the test ends.
func runWorker(t *testing.T, st mail.Store, sender mail.Sender, opts mail.WorkerOptions) *mail.Worker {
	t.Helper()
	w := mail.NewWorker(st, sender, secret, from, slog.New(slog.NewTextHandler(tWriter{t}, nil)), opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return w
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func envelope(t *testing.T, st *store.Store, id string) mail.Envelope {
	t.Helper()
	e, ok, err := st.Outbox().GetOutbox(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("GetOutbox(%s) = %v, %v", id, ok, err)
	}
	return e
}

// TestQueuedMailIsLeasedAsWritten: a mail this process queues while its
// worker runs is written already leased to it and handed to a sender
// whole: no claim, no lease written afterwards, and never a read of the
// outbox, whose waiting messages the embedded store would all decode for
// every mail of a busy hour. Each mail costs its insert and the three
// commands of its outcome (the lease checked, the trace logged, the
// message deleted), whatever else the machine does.
func TestQueuedMailIsLeasedAsWritten(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	srv := newSMTPServer(t)
	w := runWorker(t, st.Outbox(), smtpSender(t, "smtp://"+srv.addr), mail.WorkerOptions{Poll: time.Hour})
	ob := mail.NewOutbox(st.Outbox(), secret, time.Now, w)
	// The senders read the outbox once as they start (for what an earlier
	// run left); a first mail delivered shows that they have.
	if _, err := ob.Enqueue(ctx, codeMessage("000000")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first mail arrives", func() bool { return len(srv.received()) == 1 })
	time.Sleep(100 * time.Millisecond)

	var mu sync.Mutex
	seen := map[string]int{} // commands, and documents of inserts (grouped)
	stop := st.Observe(func(c store.Command) {
		mu.Lock()
		defer mu.Unlock()
		if c.Name == "insert" {
			seen[c.String()] += c.Docs
		} else {
			seen[c.String()]++
		}
	})
	const n = 20
	for i := range n {
		if _, err := ob.Enqueue(ctx, codeMessage(fmt.Sprintf("%06d", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every mail arrives", func() bool { return len(srv.received()) == n+1 })
	eventually(t, "every outcome is recorded", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen["delete mail_outbox"] >= n
	})
	stop()
	mu.Lock()
	defer mu.Unlock()
	for cmd, k := range seen {
		if strings.HasSuffix(cmd, "(scan)") {
			t.Errorf("%s ×%d while delivering %d queued mails", cmd, k, n)
		}
	}
	if seen["insert mail_outbox_claims"] != 0 || seen["update mail_outbox"] != 0 {
		t.Errorf("%d claims and %d lease updates for %d mails written leased (%v)", seen["insert mail_outbox_claims"], seen["update mail_outbox"], n, seen)
	}
	for _, cmd := range []string{"find mail_outbox", "insert mail_outbox_log", "delete mail_outbox"} {
		if seen[cmd] != n {
			t.Errorf("%s ×%d for %d mails, want one each (%v)", cmd, seen[cmd], n, seen)
		}
	}
	for _, r := range srv.received() {
		if !strings.Contains(string(r.Data), "Message-ID: <") {
			t.Errorf("a held mail went out without its Message-ID:\n%s", r.Data)
		}
	}
}

func TestDeliveredOnceWithHeaders(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	srv := newSMTPServer(t)
	// No polling: Notify alone must bring the mail out at once.
	w := runWorker(t, st.Outbox(), smtpSender(t, "smtp://"+srv.addr), mail.WorkerOptions{Poll: time.Hour})
	ob := mail.NewOutbox(st.Outbox(), secret, time.Now, w)

	before := time.Now()
	id, err := ob.Enqueue(ctx, codeMessage("482913"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(before) > 2*time.Second {
		t.Errorf("Enqueue took %s", time.Since(before))
	}
	eventually(t, "the mail arrives", func() bool { return len(srv.received()) > 0 })
	time.Sleep(200 * time.Millisecond)
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("%d mails received, want 1", len(got))
	}
	r := got[0]
	if r.From != "noreply@school.example" || len(r.To) != 1 || r.To[0] != "anne.durand@example.fr" {
		t.Errorf("envelope from %q to %q", r.From, r.To)
	}

	msg, err := netmail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	dec := new(mime.WordDecoder)
	header := func(name string) string {
		v, err := dec.DecodeHeader(h.Get(name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return v
	}
	if a, err := h.AddressList("From"); err != nil || len(a) != 1 || a[0].String() != from.String() {
		t.Errorf("From = %v, %v", a, err)
	}
	if a, err := h.AddressList("To"); err != nil || len(a) != 1 || a[0].Name != "Anne Durand" || a[0].Address != "anne.durand@example.fr" {
		t.Errorf("To = %v, %v", a, err)
	}
	if s := header("Subject"); s != "Votre code Sésame" {
		t.Errorf("Subject = %q", s)
	}
	if mid := h.Get("Message-Id"); mid != "<"+id+"@school.example>" || !regexp.MustCompile(`^<[0-9a-f]{32}@school\.example>$`).MatchString(mid) {
		t.Errorf("Message-ID = %q (outbox id %s)", mid, id)
	}
	if d, err := h.Date(); err != nil || d.Before(before.Add(-time.Second)) || d.After(time.Now()) {
		t.Errorf("Date = %v, %v", d, err)
	}
	for name, want := range map[string]string{"Auto-Submitted": "auto-generated", "Content-Language": "fr", "User-Agent": "", "X-Mailer": ""} {
		if v := h.Get(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}

	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, %v", h.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p) // quoted-printable is decoded by the reader
		parts[pt] = string(b)
	}
	if len(parts) != 2 || !strings.Contains(parts["text/plain"], "Votre code : 482913") || !strings.Contains(parts["text/html"], "<b>482913</b>") {
		t.Errorf("parts = %q", parts)
	}

	e := envelope(t, st, id)
	if e.Status != mail.StatusSent || e.Attempts != 1 || !strings.HasPrefix(e.LeasedBy, w.ID()+"#") || len(e.Sealed) != 0 {
		t.Errorf("outbox after delivery: %+v", e)
	}
	if s, err := w.Stats(ctx); err != nil || s.Waiting != 0 {
		t.Errorf("Stats = %+v, %v", s, err)
	}
}

func TestTemporaryFailureIsRetried(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	srv := newSMTPServer(t)
	srv.setMode("4xx")
	w := runWorker(t, st.Outbox(), smtpSender(t, "smtp://"+srv.addr), fast)
	id, err := mail.NewOutbox(st.Outbox(), secret, time.Now, w).Enqueue(ctx, codeMessage("551200"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a 4xx is recorded", func() bool { return srv.rcptCount() >= 2 })
	e := envelope(t, st, id)
	if e.Status == mail.StatusFailed || !strings.Contains(e.LastError, "451 4.3.0") {
		t.Errorf("after 4xx: status %q, last error %q", e.Status, e.LastError)
	}
	if strings.Contains(e.LastError, "anne") {
		t.Errorf("the last error names the recipient: %q", e.LastError)
	}
	srv.setMode("")
	eventually(t, "the mail arrives", func() bool { return len(srv.received()) == 1 })
	eventually(t, "it is marked sent", func() bool { return envelope(t, st, id).Status == mail.StatusSent })
	if e := envelope(t, st, id); e.Attempts < 3 {
		t.Errorf("attempts = %d, want at least 3", e.Attempts)
	}
}

func TestServerDownThenBack(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	srv := newSMTPServer(t)
	srv.stop()
	w := runWorker(t, st.Outbox(), smtpSender(t, "smtp://"+srv.addr), fast)
	id, err := mail.NewOutbox(st.Outbox(), secret, time.Now, w).Enqueue(ctx, codeMessage("300300"))
	if err != nil {
		t.Fatalf("Enqueue with the SMTP server down: %v", err)
	}
	eventually(t, "a failed attempt is recorded", func() bool { return envelope(t, st, id).LastError != "" })
	if e := envelope(t, st, id); e.Status == mail.StatusFailed {
		t.Fatalf("failed while the server was down: %+v", e)
	}
	if s, err := w.Stats(ctx); err != nil || s.Waiting != 1 || s.Oldest.IsZero() {
		t.Errorf("Stats while down = %+v, %v", s, err)
	}
	srv.start()
	eventually(t, "the mail arrives", func() bool { return len(srv.received()) == 1 })
	eventually(t, "it is marked sent", func() bool { return envelope(t, st, id).Status == mail.StatusSent })
	time.Sleep(100 * time.Millisecond)
	if n := len(srv.received()); n != 1 {
		t.Errorf("%d mails received, want 1", n)
	}
}

func TestPermanentFailureStops(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	srv := newSMTPServer(t)
	srv.setMode("5xx")
	w := runWorker(t, st.Outbox(), smtpSender(t, "smtp://"+srv.addr), fast)
	id, err := mail.NewOutbox(st.Outbox(), secret, time.Now, w).Enqueue(ctx, codeMessage("550550"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "it is marked failed", func() bool { return envelope(t, st, id).Status == mail.StatusFailed })
	time.Sleep(300 * time.Millisecond) // several retry periods
	e := envelope(t, st, id)
	if e.Attempts != 1 || srv.rcptCount() != 1 || !strings.Contains(e.LastError, "550 5.1.1") || strings.Contains(e.LastError, "anne") ||
		len(e.Sealed) != 0 || e.DoneAt.IsZero() {
		t.Errorf("after a 5xx: %d RCPT, %+v", srv.rcptCount(), e)
	}
}

func TestTwoWorkersDeliverEachMessageOnce(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	srv := newSMTPServer(t)
	const n = 50
	w1 := runWorker(t, st.Outbox(), smtpSender(t, "smtp://"+srv.addr), mail.WorkerOptions{Poll: 10 * time.Millisecond})
	w2 := runWorker(t, st.Outbox(), smtpSender(t, "smtp://"+srv.addr), mail.WorkerOptions{Poll: 10 * time.Millisecond})
	// Pending messages (no worker holds them as they are written), each
	// handed to both workers by id: they race for every one.
	ob := mail.NewOutbox(st.Outbox(), secret, time.Now, nil)
	for i := range n {
		id, err := ob.Enqueue(ctx, codeMessage(fmt.Sprintf("C%03d", i)))
		if err != nil {
			t.Fatal(err)
		}
		w1.Notify(id)
		w2.Notify(id)
	}
	eventually(t, "every mail arrives", func() bool { return len(srv.received()) >= n })
	time.Sleep(300 * time.Millisecond)
	seen := map[string]int{}
	codes := regexp.MustCompile(`C\d{3}`)
	for _, r := range srv.received() {
		seen[codes.FindString(string(r.Data))]++
	}
	if len(seen) != n {
		t.Errorf("%d distinct mails, want %d", len(seen), n)
	}
	for code, k := range seen {
		if k != 1 {
			t.Errorf("%s delivered %d times", code, k)
		}
	}
}

// TestLeaseOfACrashedWorker: a worker claimed the message and died; once
// its lease has run out, another delivers it.
func TestLeaseOfACrashedWorker(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	srv := newSMTPServer(t)
	t0 := time.Now().UTC()
	var mu sync.Mutex
	clock := t0
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	id, err := mail.NewOutbox(st.Outbox(), secret, now, nil).Enqueue(ctx, codeMessage("616161"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.Outbox().ClaimOutbox(ctx, t0, time.Minute, "crashed"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	opts := fast
	opts.Now = now
	w := runWorker(t, st.Outbox(), smtpSender(t, "smtp://"+srv.addr), opts)
	time.Sleep(200 * time.Millisecond) // ten polls
	if n := len(srv.received()); n != 0 {
		t.Fatalf("delivered during the crashed worker's lease")
	}
	mu.Lock()
	clock = t0.Add(61 * time.Second)
	mu.Unlock()
	eventually(t, "the mail arrives", func() bool { return len(srv.received()) == 1 })
	eventually(t, "it is marked sent", func() bool { return envelope(t, st, id).Status == mail.StatusSent })
	if e := envelope(t, st, id); e.Attempts != 2 || !strings.HasPrefix(e.LeasedBy, w.ID()+"#") {
		t.Errorf("after the takeover: %+v", e)
	}
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	s := mail.NewLogSender(slog.New(slog.NewTextHandler(&buf, nil)))
	if err := s.Send(context.Background(), from, codeMessage("777001"), "x@school.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"777001", "anne.durand@example.fr", "Votre code Sésame", "<x@school.example>"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, buf.String())
		}
	}
}
