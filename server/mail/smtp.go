package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTPSender delivers through the relay of SESAME_SMTP_URL.
type SMTPSender struct {
	host        string
	port        int
	implicitTLS bool
	user, pass  string
	timeout     time.Duration
	tlsConfig   *tls.Config
}

// NewSMTPSender returns a sender for u: smtp://[user:password@]host[:port]
// (port 587 by default; STARTTLS whenever the server offers it) or
// smtps://… (port 465 by default; TLS from the first byte). With a user,
// the connection authenticates with the strongest mechanism the server
// offers, and never sends the password over a connection that is not
// encrypted. timeout (default 20 s) bounds the connection and each phase
// of the exchange.
func NewSMTPSender(u *url.URL, timeout time.Duration) (*SMTPSender, error) {
	s := &SMTPSender{host: u.Hostname(), timeout: timeout}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicitTLS = 465, true
	default:
		return nil, fmt.Errorf("mail: smtp url: scheme %q is not smtp or smtps", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("mail: smtp url: no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("mail: smtp url: bad port %q", p)
		}
		s.port = n
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	if s.timeout <= 0 {
		s.timeout = 20 * time.Second
	}
	s.tlsConfig = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	if _, err := s.client(nil); err != nil {
		return nil, err
	}
	return s, nil
}

// client returns a go-mail client for one delivery. A fresh one per
// delivery shares no connection state between workers.
func (s *SMTPSender) client(dial gomail.DialContextFunc) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(s.tlsConfig),
		// Opportunistic: relays inside a school network often offer no
		// STARTTLS. For smtps the dialer has already set TLS up; go-mail
		// then sees the connection as encrypted, which its choice of
		// authentication mechanism depends on.
		gomail.WithTLSPolicy(gomail.TLSOpportunistic),
	}
	if dial != nil {
		opts = append(opts, gomail.WithDialContextFunc(dial))
	}
	if s.user != "" {
		// Auto-discovery picks SCRAM, CRAM-MD5, PLAIN or LOGIN as offered,
		// and refuses PLAIN and LOGIN on an unencrypted connection.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp client: %w", err)
	}
	return c, nil
}

// Send delivers m. A 5xx reply to the message's own transaction (MAIL,
// RCPT, DATA) is permanent. Failures to connect, to set TLS up or to
// authenticate are temporary even with a 5xx: they are the relay's or the
// configuration's, not the message's, and an operator who fixes them
// within the day of retries gets every mail out. Errors name the SMTP
// phase and reply code, never the recipient (go-mail's own errors list
// the recipients, so they are not wrapped).
func (s *SMTPSender) Send(ctx context.Context, from *mail.Address, m Message, messageID string, date time.Time) error {
	msg, err := buildMsg(from, m, messageID, date)
	if err != nil {
		return err
	}
	stop := func() bool { return false }
	defer func() { stop() }()
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Timeout: s.timeout}
		var conn net.Conn
		var err error
		if s.implicitTLS {
			conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig}).DialContext(dctx, network, addr)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		// go-mail sets no deadline before the message's first command, so
		// a server that accepts the connection and never answers would
		// hold the worker past its lease: bound greeting, EHLO, STARTTLS
		// and AUTH together.
		_ = conn.SetDeadline(time.Now().Add(s.timeout))
		// Once connected, go-mail no longer watches ctx; closing the
		// connection is what interrupts it at shutdown.
		stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
	c, err := s.client(dial)
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return classify(err)
	}
	return nil
}

// buildMsg writes m as a multipart/alternative mail.
func buildMsg(from *mail.Address, m Message, messageID string, date time.Time) (*gomail.Msg, error) {
	to, err := parseRecipient(m.To)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	// No User-Agent: it would only advertise the library's version.
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(messageID)
	msg.SetDateWithValue(date)
	// RFC 3834: no vacation replies or other automatic answers to a
	// mailbox nobody reads; X-Auto-Response-Suppress asks the same of
	// Exchange, common in schools.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	if m.Lang != "" {
		msg.SetGenHeader(gomail.HeaderContentLang, m.Lang)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}

// classify turns go-mail's error into one safe to store and log, wrapping
// ErrPermanent when retrying cannot help.
func classify(err error) error {
	var se *gomail.SendError
	switch {
	case errors.Is(err, gomail.ErrNoSupportedAuthDiscovered):
		// Typically a relay without STARTTLS: PLAIN and LOGIN are not
		// offered a password over a connection in clear.
		return fmt.Errorf("mail: smtp: no authentication mechanism usable on this connection (PLAIN and LOGIN need TLS): %w", err)
	case !errors.As(err, &se):
		return fmt.Errorf("mail: smtp: %w", err)
	}
	desc := se.Reason.String()
	code := se.ErrorCode()
	if code != 0 {
		desc += ": " + strconv.Itoa(code)
	}
	if esc := se.EnhancedStatusCode(); esc != "" {
		desc += " " + esc
	}
	switch {
	case code >= 500 && code < 600,
		// go-mail refused the addresses, or the server cannot take 8-bit
		// content: the same message would fail again.
		se.Reason == gomail.ErrGetSender, se.Reason == gomail.ErrGetRcpts, se.Reason == gomail.ErrNoUnencoded:
		return fmt.Errorf("%w: smtp: %s", ErrPermanent, desc)
	}
	return fmt.Errorf("mail: smtp: %s", desc)
}
