package mail_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// received is one mail as the test server got it.
type received struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	User string
}

// smtpServer is a real SMTP server on 127.0.0.1 that records what it
// receives. Its answer to RCPT can be switched to 4xx or 5xx, and it can be
// stopped and started again on the same address.
type smtpServer struct {
	t *testing.T
	// tlsConfig offers STARTTLS, or with implicit TLS from the first byte.
	tlsConfig *tls.Config
	implicit  bool
	// user and pass, when set, are required (AUTH PLAIN).
	user, pass string

	mu     sync.Mutex
	addr   string
	srv    *smtp.Server
	l      net.Listener
	mode   string // "", "4xx" or "5xx"
	mails  []received
	rcpts  int
	logins []string
}

func newSMTPServer(t *testing.T) *smtpServer {
	s := &smtpServer{t: t}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *smtpServer) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatalf("smtp server: %v", err)
	}
	s.addr = l.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		se := &session{s: s, c: c}
		if s.user != "" {
			return authSession{se}, nil
		}
		return se, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // so that the client's refusal is what is tested
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if s.implicit {
		l = tls.NewListener(l, s.tlsConfig)
	} else {
		srv.TLSConfig = s.tlsConfig
	}
	s.srv, s.l = srv, l
	go func() { _ = srv.Serve(l) }()
}

func (s *smtpServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		// Closing the listener too: Serve may not have registered it yet.
		_ = s.l.Close()
		_ = s.srv.Close()
		s.srv = nil
	}
}

func (s *smtpServer) setMode(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.mails...)
}

func (s *smtpServer) rcptCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcpts
}

type session struct {
	s    *smtpServer
	c    *smtp.Conn
	user string
	from string
	to   []string
}

// authSession is a session offering AUTH PLAIN.
type authSession struct{ *session }

func (a authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (a authSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		a.s.mu.Lock()
		a.s.logins = append(a.s.logins, user)
		a.s.mu.Unlock()
		if user != a.s.user || pass != a.s.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Bad credentials"}
		}
		a.user = user
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.user != "" && se.user == "" {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	se.s.rcpts++
	switch se.s.mode {
	case "4xx":
		// The reply names the recipient, as real servers do: it must not
		// reach the outbox's last error.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Mailbox <" + to + "> busy"}
	case "5xx":
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user <" + to + ">"}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := se.c.TLSConnectionState()
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	se.s.mails = append(se.s.mails, received{From: se.from, To: se.to, Data: b, TLS: isTLS, User: se.user})
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }

// Sessions offer AUTH only when the server requires a user.
var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = authSession{}
)

// newTLSServer returns a server with a self-signed certificate for
// 127.0.0.1, offered when offerTLS, and a pool trusting it.
func newTLSServer(t *testing.T, implicit, offerTLS bool, user, pass string) (*smtpServer, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	s := &smtpServer{t: t, implicit: implicit, user: user, pass: pass}
	if offerTLS {
		s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	}
	s.start()
	t.Cleanup(s.stop)
	return s, pool
}
