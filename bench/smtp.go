package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is a real SMTP server on loopback that keeps, for each recovery
// flow, the code its mail carried, as a person reads it: the text part has
// the code on a line of four spaces and six characters
// (server/mail/mailtest reads it the same way), and the mailed link names
// the flow. mailtest itself polls a slice every 20 ms per waiter, which
// costs too much CPU with hundreds of simulated people on two cores, so
// this sink indexes mails by flow and wakes waiters directly.
type sink struct {
	URL *url.URL
	srv *smtp.Server

	mu      sync.Mutex
	codes   map[string]codeMail        // flow id → its latest code mail
	waiters map[string][]chan struct{} // flow id → people waiting for it
	other   int                        // mails without a code (password-changed notices…)
	bad     int                        // mails that could not be read
	total   int
}

type codeMail struct {
	Code string
	To   string
	At   time.Time
}

var (
	codeRE = regexp.MustCompile(`(?m)^ {4}([23456789A-HJKMNP-Z]{6})$`)
	flowRE = regexp.MustCompile(`[?&]flow=([0-9a-f]+)`)
)

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{codes: map[string]codeMail{}, waiters: map[string][]chan struct{}{}}
	s.URL = &url.URL{Scheme: "smtp", Host: l.Addr().String()}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 30*time.Second, 30*time.Second
	s.srv.MaxMessageBytes = 1 << 20
	// A server stopped in the middle of a delivery resets its connection;
	// that is not worth a line in the report.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *sink) Close() { _ = s.srv.Close() }

// reset forgets every mail (between two server processes).
func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes = map[string]codeMail{}
	s.other, s.bad, s.total = 0, 0, 0
}

// wait returns the code mailed for flow, waiting up to timeout.
func (s *sink) wait(flow string, timeout time.Duration) (codeMail, bool) {
	return s.waitCtx(context.Background(), flow, timeout)
}

// waitCtx is wait that also gives up when ctx ends.
func (s *sink) waitCtx(ctx context.Context, flow string, timeout time.Duration) (codeMail, bool) {
	s.mu.Lock()
	if m, ok := s.codes[flow]; ok {
		s.mu.Unlock()
		return m, true
	}
	ch := make(chan struct{})
	s.waiters[flow] = append(s.waiters[flow], ch)
	s.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		s.mu.Lock()
		m := s.codes[flow]
		s.mu.Unlock()
		return m, true
	case <-ctx.Done():
		s.mu.Lock()
		m, ok := s.codes[flow]
		s.mu.Unlock()
		return m, ok
	case <-t.C:
		s.mu.Lock()
		m, ok := s.codes[flow]
		s.mu.Unlock()
		return m, ok
	}
}

// has reports whether flow's code has arrived, and when.
func (s *sink) has(flow string) (codeMail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.codes[flow]
	return m, ok
}

func (s *sink) counts() (codes, other, bad, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.codes), s.other, s.bad, s.total
}

func (s *sink) deliver(to []string, raw []byte) error {
	now := time.Now()
	text, err := textPart(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	if err != nil {
		s.bad++
		return err
	}
	c := codeRE.FindStringSubmatch(text)
	f := flowRE.FindStringSubmatch(text)
	if c == nil || f == nil {
		s.other++
		return nil
	}
	s.codes[f[1]] = codeMail{Code: c[1], To: strings.Join(to, ","), At: now}
	for _, ch := range s.waiters[f[1]] {
		close(ch)
	}
	delete(s.waiters, f[1])
	return nil
}

type sinkSession struct {
	s  *sink
	to []string
}

func (se *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (se *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}
func (se *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := se.s.deliver(se.to, raw); err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unreadable: " + err.Error()}
	}
	return nil
}
func (se *sinkSession) Reset()        { se.to = nil }
func (se *sinkSession) Logout() error { return nil }

// textPart returns the decoded text/plain part of a multipart mail.
func textPart(raw []byte) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, err := io.ReadAll(msg.Body)
		return decode(msg.Header.Get("Content-Transfer-Encoding"), b, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("no text part")
		}
		if err != nil {
			return "", err
		}
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct == "text/plain" {
			// multipart.Part undoes quoted-printable itself; base64 is left.
			b, err := io.ReadAll(p)
			return decode(p.Header.Get("Content-Transfer-Encoding"), b, err)
		}
	}
}

func decode(cte string, b []byte, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if strings.EqualFold(cte, "base64") {
		out, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
		if err != nil {
			return "", err
		}
		b = out
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}
