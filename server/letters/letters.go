// Package letters prints activation letters: one A4 page per person, as a
// PDF, in the words of the letters schools hand out (« Votre Sésame »): the
// identifier, the provisional password, the activation address with its QR
// code, until when the password works, and where to find help.
//
// The PDF is written straight to the caller's writer and nothing is kept:
// a provisional password exists in clear only inside the PDF it was
// printed in. The QR code is drawn as vector squares, so a page weighs a
// few kilobytes rather than an embedded image's tens.
package letters

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-pdf/fpdf"
	qrcode "github.com/yeqown/go-qrcode/v2"
)

// School brands the letters.
type School struct {
	Name string
	// Colour is "#rrggbb" ("" for the default blue).
	Colour string
}

// Page is one person's letter, every text already in the person's
// language.
type Page struct {
	Name       string
	Identifier string
	Password   string
	// ActivationURL is where to type them; the QR code holds it.
	ActivationURL string
	ValidUntil    string // a date, written out
	// Help is the population's help desk: its text, contacts and hours.
	HelpText  string
	HelpLines []string
}

// Words are the fixed texts of a letter, in one language.
type Words struct {
	Title          string // « Votre Sésame », « Votre PASS'UM »
	Intro          string // « Voici vos codes pour activer votre compte… »
	Identifier     string
	Password       string
	PasswordNote   string // « Le mot de passe provisoire ne sert qu'une fois… »
	Activate       string // « Activez votre compte à l'adresse : »
	Scan           string // « ou scannez ce code : »
	ValidUntil     string // « Valable jusqu'au %s »
	Help           string // « En cas de difficulté »
	Keep           string // « Ne communiquez jamais votre mot de passe… »
	Confidentially string // « Personnel et confidentiel »
	// Incomplete, when set, is a last page for the office: the batch
	// stopped partway, and says how many accounts got no letter.
	Incomplete string
}

// Write renders pages into one PDF on w, one A4 page each, in the order
// given.
func Write(w io.Writer, school School, words Words, pages []Page) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle(words.Title+" - "+school.Name, true)
	pdf.SetAuthor(school.Name, true)
	pdf.SetCreator("Sésame", true)
	// Every element has its place on the page: a long help text must not
	// push the footer onto a page of its own.
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetCompression(true)
	// The core fonts with a code page cover French: é, è, à, ç, œ, «, ».
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	r, g, b := rgb(school.Colour)
	for _, p := range pages {
		if err := page(pdf, tr, school, words, p, r, g, b); err != nil {
			return err
		}
	}
	if words.Incomplete != "" {
		pdf.AddPage()
		pdf.SetMargins(20, 20, 20)
		pdf.SetXY(20, 30)
		pdf.SetFont("Helvetica", "B", 13)
		pdf.MultiCell(170, 7, tr(words.Incomplete), "", "L", false)
	}
	if len(pages) == 0 && words.Incomplete == "" {
		pdf.AddPage()
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("letters: %w", err)
	}
	return nil
}

func page(pdf *fpdf.Fpdf, tr func(string) string, school School, words Words, p Page, r, g, b int) error {
	pdf.AddPage()
	pdf.SetMargins(20, 20, 20)
	// The school's band.
	pdf.SetFillColor(r, g, b)
	pdf.Rect(0, 0, 210, 28, "F")
	pdf.SetTextColor(255, 255, 255)
	pdf.SetFont("Helvetica", "B", 16)
	pdf.SetXY(20, 9)
	pdf.CellFormat(170, 10, tr(school.Name), "", 0, "L", false, 0, "")

	pdf.SetTextColor(0, 0, 0)
	pdf.SetXY(20, 38)
	pdf.SetFont("Helvetica", "", 9)
	pdf.CellFormat(170, 5, tr(words.Confidentially), "", 1, "R", false, 0, "")
	pdf.SetFont("Helvetica", "B", 22)
	pdf.SetTextColor(r, g, b)
	pdf.CellFormat(170, 12, tr(words.Title), "", 1, "L", false, 0, "")
	pdf.SetTextColor(0, 0, 0)
	pdf.SetFont("Helvetica", "", 13)
	pdf.CellFormat(170, 8, tr(p.Name), "", 1, "L", false, 0, "")
	pdf.Ln(3)
	pdf.SetFont("Helvetica", "", 11)
	pdf.MultiCell(170, 5.5, tr(words.Intro), "", "L", false)
	pdf.Ln(4)

	// The two codes, large, in a frame.
	y := pdf.GetY()
	pdf.SetDrawColor(r, g, b)
	pdf.SetLineWidth(0.6)
	pdf.Rect(20, y, 170, 34, "D")
	pdf.SetXY(26, y+4)
	pdf.SetFont("Helvetica", "", 11)
	pdf.CellFormat(60, 7, tr(words.Identifier), "", 0, "L", false, 0, "")
	pdf.SetFont("Courier", "B", 16)
	pdf.CellFormat(100, 7, tr(p.Identifier), "", 1, "L", false, 0, "")
	pdf.SetXY(26, y+14)
	pdf.SetFont("Helvetica", "", 11)
	pdf.CellFormat(60, 7, tr(words.Password), "", 0, "L", false, 0, "")
	pdf.SetFont("Courier", "B", 16)
	pdf.CellFormat(100, 7, p.Password, "", 1, "L", false, 0, "")
	pdf.SetXY(26, y+24)
	pdf.SetFont("Helvetica", "B", 10)
	pdf.CellFormat(160, 6, tr(fmt.Sprintf(words.ValidUntil, p.ValidUntil)), "", 1, "L", false, 0, "")
	pdf.SetY(y + 38)
	pdf.SetFont("Helvetica", "", 9.5)
	pdf.MultiCell(170, 5, tr(words.PasswordNote), "", "L", false)
	pdf.Ln(5)

	// Where to activate, and the QR code of it.
	y = pdf.GetY()
	pdf.SetFont("Helvetica", "", 11)
	pdf.MultiCell(120, 6, tr(words.Activate), "", "L", false)
	pdf.SetFont("Helvetica", "B", 12)
	pdf.SetTextColor(r, g, b)
	pdf.MultiCell(120, 6, p.ActivationURL, "", "L", false)
	pdf.SetTextColor(0, 0, 0)
	pdf.SetFont("Helvetica", "", 10)
	pdf.MultiCell(120, 6, tr(words.Scan), "", "L", false)
	if err := drawQR(pdf, p.ActivationURL, 150, y, 40); err != nil {
		return err
	}
	pdf.SetY(max(pdf.GetY(), y+44))

	// The help desk.
	pdf.SetFont("Helvetica", "B", 11)
	pdf.CellFormat(170, 7, tr(words.Help), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	if p.HelpText != "" {
		pdf.MultiCell(170, 5, tr(p.HelpText), "", "L", false)
	}
	for _, l := range p.HelpLines {
		pdf.MultiCell(170, 5, tr(l), "", "L", false)
	}
	pdf.SetY(270)
	pdf.SetFont("Helvetica", "I", 9)
	pdf.MultiCell(170, 4.5, tr(words.Keep), "", "C", false)
	return pdf.Error()
}

// drawQR draws the QR code of text as filled squares, size mm wide, at
// (x, y).
func drawQR(pdf *fpdf.Fpdf, text string, x, y, size float64) error {
	q, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return fmt.Errorf("letters: QR code: %w", err)
	}
	var m [][]bool
	if err := q.Save(bitmapWriter(func(b [][]bool) { m = b })); err != nil {
		return fmt.Errorf("letters: QR code: %w", err)
	}
	if len(m) == 0 {
		return fmt.Errorf("letters: QR code: empty")
	}
	cell := size / float64(len(m))
	pdf.SetFillColor(0, 0, 0)
	for row, cols := range m {
		// Adjacent dark modules of a row are one rectangle: fewer
		// operators, a smaller page.
		for col := 0; col < len(cols); col++ {
			if !cols[col] {
				continue
			}
			end := col
			for end+1 < len(cols) && cols[end+1] {
				end++
			}
			pdf.Rect(x+float64(col)*cell, y+float64(row)*cell, float64(end-col+1)*cell, cell, "F")
			col = end
		}
	}
	return nil
}

// bitmapWriter hands the QR code's modules to a function.
type bitmapWriter func([][]bool)

func (w bitmapWriter) Write(m qrcode.Matrix) error { w(m.Bitmap()); return nil }
func (w bitmapWriter) Close() error                { return nil }

// rgb reads "#rrggbb", or gives Sésame's blue.
func rgb(hex string) (int, int, int) {
	hex = strings.TrimPrefix(hex, "#")
	if len(hex) != 6 {
		return 0x1d, 0x4e, 0xd8
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return 0x1d, 0x4e, 0xd8
	}
	return int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff)
}
