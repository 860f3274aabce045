// Package mailtest is a real SMTP server for tests: it listens on
// 127.0.0.1, accepts every mail, and lets a test wait for one and read its
// plain-text part, as a person reads their mail.
package mailtest

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one received message.
type Mail struct {
	From    string
	To      []string
	Header  mail.Header
	Subject string
	Text    string
	HTML    string
	Raw     []byte
}

// Server records mails.
type Server struct {
	tb   testing.TB
	URL  *url.URL
	mu   sync.Mutex
	cond *sync.Cond
	got  []Mail
	srv  *smtp.Server
	down bool
}

// Start runs a server until the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb}
	s.cond = sync.NewCond(&s.mu)
	s.URL = &url.URL{Scheme: "smtp", Host: l.Addr().String()}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() { _ = s.srv.Serve(l) }()
	tb.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// SetDown makes the server answer 421 (try later) to every mail, or accept
// them again.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// All returns every mail received so far.
func (s *Server) All() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.got...)
}

// Count returns how many mails went to addr.
func (s *Server) Count(addr string) int {
	n := 0
	for _, m := range s.All() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				n++
			}
		}
	}
	return n
}

// Wait returns the n-th mail (counting from 1) sent to addr, waiting up to
// timeout for it.
func (s *Server) Wait(addr string, n int, timeout time.Duration) Mail {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		seen := 0
		for _, m := range s.All() {
			for _, to := range m.To {
				if strings.EqualFold(to, addr) {
					seen++
					if seen == n {
						return m
					}
				}
			}
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("mail #%d to %s did not arrive within %s (%d received)", n, addr, timeout, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var codeRE = regexp.MustCompile(`(?m)^ {4}([23456789A-HJKMNP-Z]{6})$`)

// Code is the security code of a recovery mail's text part.
func (m Mail) Code() string {
	if c := codeRE.FindStringSubmatch(m.Text); c != nil {
		return c[1]
	}
	return ""
}

var linkRE = regexp.MustCompile(`https?://\S+`)

// Links lists the URLs of the text part.
func (m Mail) Links() []string { return linkRE.FindAllString(m.Text, -1) }

type session struct {
	s    *Server
	from string
	to   []string
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	se.s.mu.Lock()
	down := se.s.down
	se.s.mu.Unlock()
	if down {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "try again later"}
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparsable: " + err.Error()}
	}
	m.From, m.To = se.from, se.to
	se.s.mu.Lock()
	se.s.got = append(se.s.got, m)
	se.s.mu.Unlock()
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }

// parse reads the headers and the text and HTML parts of a
// multipart/alternative mail.
func parse(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	m := Mail{Header: msg.Header, Subject: subject, Raw: raw}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return m, fmt.Errorf("not multipart: %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, err
		}
		body, err := decodePart(p)
		if err != nil {
			return m, err
		}
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			m.Text = body
		case "text/html":
			m.HTML = body
		}
	}
	return m, nil
}

func decodePart(p *multipart.Part) (string, error) {
	// multipart.Part already undoes quoted-printable; base64 is left.
	b, err := io.ReadAll(p)
	if err != nil {
		return "", err
	}
	if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
		return decodeBase64(b)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}
