package mail

import (
	"context"
	"log/slog"
	"net/mail"
	"time"
)

// LogSender writes mails to the log instead of sending them, for running
// Sésame without an SMTP relay (SESAME_SMTP_URL unset).
type LogSender struct {
	log *slog.Logger
}

// NewLogSender returns a sender writing to log.
func NewLogSender(log *slog.Logger) *LogSender {
	return &LogSender{log: log}
}

// Send logs the recipient, the subject and the text part.
//
// This is the one deliberate exception to "no secrets in logs": the text
// carries the code or link, and reading it in the log is how a newcomer
// running `go run .` without a mail server completes a recovery. It never
// happens once SESAME_SMTP_URL is set.
func (s *LogSender) Send(ctx context.Context, from *mail.Address, m Message, messageID string, date time.Time) error {
	s.log.InfoContext(ctx, "mail (SESAME_SMTP_URL unset: written to the log, not sent)",
		"to", m.To, "subject", m.Subject, "kind", m.Kind, "message_id", "<"+messageID+">", "text", m.Text)
	return nil
}
