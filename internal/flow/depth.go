package flow

import (
	"fmt"
	"unicode/utf8"
)

// DepthError is the answer of CheckDepth to text that the YAML parser would
// pay too much for: where and why.
type DepthError struct {
	// Limit is the deepest nesting allowed.
	Limit int
	// Line and Column locate the opening of the first level over the limit
	// (1-based; the column counts characters, as the YAML parser does).
	Line, Column int
	// Slow, when set, says what the text was refused for instead of its
	// depth: something the YAML tokenizer rereads again and again.
	Slow string
}

// Error says what is wrong and where.
func (e *DepthError) Error() string {
	return fmt.Sprintf("%s (line %d, column %d)", e.what(), e.Line, e.Column)
}

func (e *DepthError) what() string {
	if e.Slow != "" {
		return e.Slow
	}
	return fmt.Sprintf("mappings and lists are nested deeper than %d levels", e.Limit)
}

// problem is the error as a definition problem.
func (e *DepthError) problem() Problem {
	return Problem{Message: e.what(), Line: e.Line, Column: e.Column}
}

// MaxInputNesting is the deepest nesting of the JSON a run starts with (a
// webhook body, a manual run's input) and of any JSON request body.
const MaxInputNesting = 64

// maxRescan bounds the work the YAML tokenizer spends rereading text: for
// each tab inside a double-quoted string it reads on to the end of the line,
// and for each "<" outside quotes to the end of the run of "<", so a line of
// 500,000 tabs or "<" would cost 10^11 steps (minutes). 64 Mi steps take
// about 70 ms.
const maxRescan = 64 * MaxSize

// CheckDepth reads YAML or JSON text once, without parsing it and without
// allocating more than the limit needs, and returns a *DepthError when its
// mappings and lists may nest deeper than limit, or when the YAML tokenizer
// would reread parts of it without bound (see maxRescan). It runs before the
// YAML parser, whose memory grows with the square of the depth ("- "
// repeated 40,000 times took 2.5 GB), so that such text is refused before it
// costs anything.
//
// The scan follows the tokenizer of github.com/goccy/go-yaml: block
// sequences ("- - x" on one line or indented), block mappings, explicit keys,
// flow collections ([ and {, JSON included), quoted strings, comments, tags,
// anchors and block scalars (| and >), whose content is text. Where that
// parser could read more structure than the scan can be sure of, the scan
// counts more levels, never fewer: it may over-estimate the depth but never
// under-estimate it (FuzzCheckDepth compares it with the parser).
func CheckDepth(src []byte, limit int) error {
	return prescan(src, limit, 0)
}

// prescan is CheckDepth that also refuses text with more than maxValues
// values (when positive), before the parser spends about a kilobyte on each.
func prescan(src []byte, limit, maxValues int) error {
	s := depthScanner{src: src, limit: limit, maxValues: maxValues, line: 1, col: 1, firstChar: true, realLine: true}
	return s.scan()
}

// blockLevel is an open block collection: the column of its "- ", "? " or
// first key.
type blockLevel struct {
	col int
	seq bool
	// explicit is set on a mapping whose last key was a "? ", so that a
	// ": " at its column is that key's value.
	explicit bool
}

// flowLevel is an open [ or {. added is the depth it adds: one, plus the
// block indicators ("- ", "? ") the parser nests inside it, plus the ": " of
// the current entry past a mapping's first, each a nested mapping.
type flowLevel struct {
	isMap  bool
	added  int
	colons int
}

// depthScanner holds the state of CheckDepth. The fields that mirror the
// tokenizer's state (buffer, lastDelim, firstChar, seqs, maps, ...) decide,
// as they do there, whether a character is structure or text.
type depthScanner struct {
	src   []byte
	limit int
	i     int
	// line and col are the position of src[i]; col counts characters.
	line, col int
	// indent counts the blanks before the first character of the line.
	indent int

	// buffer is set while plain text is read: quotes, brackets and
	// indicators are then text. bufCol is the column where it started.
	buffer bool
	bufCol int
	// keyCol is the column of the first token of the current node, which
	// is the column of its mapping when a ": " follows; 0 when none yet.
	keyCol int
	// lastDelim is the column of the last "- ", "? " or mapping key; a line
	// starting at or left of it ends plain text and block scalars.
	lastDelim int
	// firstChar is set until the first non-blank character of a line;
	// realLine is cleared when that line began inside a quoted string.
	firstChar, realLine bool
	// lineCol is the column of the first token of the line.
	lineCol int
	// popTo is the column of the first token of the line while the block
	// collections right of it are still to be closed; 0 when none.
	popTo int
	// dashCol is the column of the last "- " or "? " while no node has
	// started after it; afterDash is its value when the line began. The
	// parser nests a key on the next line at that column inside the entry.
	dashCol, afterDash int
	// property is set after a tag or anchor while no node has started
	// after it; the parser gives it the node on the next line whatever its
	// column, so that line closes no block collection.
	property bool
	// nested is set on the line after such a property: its first block
	// entry opens a level even at the column of an open one.
	nested bool
	// down and up compare the line's first character with lastDelim;
	// atFirst is set while that character is read.
	down, up, atFirst bool
	// name is set while an anchor, alias or directive name is read.
	name bool
	// lastColon is set when the last token was a ": ".
	lastColon bool
	// quoteCol is the column of the last token when it was a quoted
	// string, else 0.
	quoteCol int
	// seqs and maps count the open [ and { the way the tokenizer does; the
	// text is in flow context while either is positive.
	seqs, maps int

	// scalar is set inside a block scalar; scalarCol is the column of its
	// first content line, 0 until there is one.
	scalar    bool
	scalarCol int

	// rescan is the work the tokenizer spends rereading text (see
	// maxRescan); lineEnd caches the end of the line it measures to.
	rescan, lineEnd int

	blocks []blockLevel
	flows  []flowLevel
	// flowDepth is the depth the open flow levels add.
	flowDepth int
	// deepest is the deepest depth seen.
	deepest int
	// values counts the "- ", "? ", ": " and flow "," read: each stands
	// for at least one value the converter will make, so the count never
	// exceeds the converter's. maxValues, when positive, caps it.
	values, maxValues int
	// pendingName is set after a "&" or "*" until its name is read.
	pendingName bool
}

func (s *depthScanner) flowMode() bool { return s.seqs > 0 || s.maps > 0 }

func (s *depthScanner) peek(k int) byte {
	if s.i+k < len(s.src) {
		return s.src[s.i+k]
	}
	return 0
}

// advance moves past the character at s.i.
func (s *depthScanner) advance() {
	if s.i >= len(s.src) {
		return
	}
	if s.src[s.i] < utf8.RuneSelf {
		s.i++
	} else {
		_, n := utf8.DecodeRune(s.src[s.i:])
		s.i += n
	}
	s.col++
}

// newline moves past a line break (CRLF counts as one).
func (s *depthScanner) newline() {
	if s.src[s.i] == '\r' && s.peek(1) == '\n' {
		s.i++
	}
	s.i++
	s.line, s.col, s.indent = s.line+1, 1, 0
	s.firstChar, s.realLine, s.name = true, true, false
}

// token records that a token other than plain text was read.
func (s *depthScanner) token() {
	s.buffer, s.lastColon, s.quoteCol = false, false, 0
}

func (s *depthScanner) depth() int { return len(s.blocks) + s.flowDepth }

func (s *depthScanner) tooDeep(col int) error {
	s.deepest = max(s.deepest, s.depth())
	if s.depth() > s.limit {
		return &DepthError{Limit: s.limit, Line: s.line, Column: col}
	}
	return nil
}

// propertyStart notes the column of a tag or anchor, which may stand
// before a node on the next line.
func (s *depthScanner) propertyStart() {
	s.property = true
	if s.keyCol == 0 {
		s.keyCol = s.col
	}
}

// nodeStart notes the column where a token of the current node starts.
func (s *depthScanner) nodeStart() {
	if s.pendingName {
		// The parser takes this token as the name of the anchor or alias
		// before it, whose name was empty.
		s.pendingName = false
		return
	}
	s.dashCol, s.property = 0, false
	if s.keyCol == 0 {
		s.keyCol = s.col
	}
}

func isBreak(c byte) bool { return c == '\n' || c == '\r' }

func isBlank(c byte) bool { return c == ' ' || c == '\t' || isBreak(c) }

// isBlankOrEnd is for what follows "-": the tokenizer reads the end of the
// text, and a NUL character, as 0.
func isBlankOrEnd(c byte) bool { return c == 0 || isBlank(c) }

// repeat counts the copies of c from s.i on.
func (s *depthScanner) repeat(c byte) int {
	n := 0
	for s.i+n < len(s.src) && s.src[s.i+n] == c {
		n++
	}
	return n
}

func (s *depthScanner) scan() error {
	for s.i < len(s.src) {
		if s.maxValues > 0 && s.values > s.maxValues {
			return &DepthError{Limit: s.limit, Line: s.line, Column: s.col,
				Slow: fmt.Sprintf("the definition has more than %d values; the limit is %d", s.maxValues, s.maxValues)}
		}
		c := s.src[s.i]
		s.atFirst = false
		if s.firstChar {
			switch c {
			case ' ', '\t':
				s.indent++
			case '\n', '\r':
			default:
				s.lineFirst(c)
			}
		}
		if s.scalar {
			s.scalarChar(c)
			continue
		}
		done, err := s.structure(c)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		s.plain(c)
	}
	return nil
}

// plain reads c as plain text, or as the name of an anchor, alias or
// directive.
func (s *depthScanner) plain(c byte) {
	if c != ' ' && c != '\t' && !s.buffer {
		if s.name {
			s.pendingName = false // the anchor or alias has its name
		} else {
			s.nodeStart()
		}
		s.buffer, s.bufCol = true, s.col
	}
	if c == '\t' && s.tabSkipsColumn() {
		s.i++
		return
	}
	s.advance()
}

// isMergeKey reports whether a merge key "<<" starts at s.i: "<<", blanks,
// then a ":" followed by a blank or a line break.
func (s *depthScanner) isMergeKey() bool {
	if s.repeat('<') != 2 {
		return false
	}
	j := s.i + 2
	for j < len(s.src) && s.src[j] == ' ' {
		j++
	}
	return j+1 < len(s.src) && s.src[j] == ':' && (s.src[j+1] == ' ' || isBreak(s.src[j+1]))
}

// lineFirst handles the first non-blank character of a line: a line left
// of the last indicator ends plain text and block scalars, and closes the
// block collections right of it.
func (s *depthScanner) lineFirst(c byte) {
	s.firstChar, s.atFirst = false, true
	s.down = s.lastDelim != 0 && s.lastDelim >= s.col
	s.up = s.lastDelim != 0 && s.lastDelim < s.col
	if s.down {
		if s.buffer {
			s.token()
		}
		s.scalar = false
	}
	if s.scalar || c == '#' || s.buffer || s.flowMode() || !s.realLine {
		return
	}
	s.lineCol, s.keyCol, s.afterDash = s.col, 0, s.dashCol
	if s.property {
		s.property, s.nested = false, true
		return
	}
	if c == ':' {
		// A ": " starting a line makes the token before it a key, within
		// whatever held that token, whatever the column.
		return
	}
	// The block collections right of the line's first token end. The
	// closing waits for the token: plain text before a merge key is
	// dropped, and the merge key is then the first token.
	if s.popTo == 0 || s.col < s.popTo {
		s.popTo = s.col
	}
}

// closeBlocks ends the block collections right of the first token of the
// line, once that token is known.
func (s *depthScanner) closeBlocks() {
	for s.popTo > 0 && len(s.blocks) > 0 && s.blocks[len(s.blocks)-1].col > s.popTo {
		s.blocks = s.blocks[:len(s.blocks)-1]
	}
	s.popTo = 0
}

// tabSkipsColumn reports whether the tokenizer counts a tab outside quotes
// as indentation, which does not move its column.
func (s *depthScanner) tabSkipsColumn() bool {
	return (s.buffer && s.lastDelim == 0) || s.lastDelim < s.col
}

// structure reads the token starting at c, if c starts one here; done is
// false when c is plain text.
func (s *depthScanner) structure(c byte) (done bool, err error) {
	switch c {
	case '\n', '\r':
		if s.name {
			s.token()
		}
		s.newline()
		return true, nil
	case ' ':
		if s.name {
			s.token()
			s.name = false
		}
	case '#':
		if !s.buffer || s.i == 0 || isBlank(s.src[s.i-1]) {
			s.comment()
			return true, nil
		}
	case '\'', '"':
		if !s.buffer {
			s.nodeStart()
			return true, s.quoted(c)
		}
	case '[', '{':
		if !s.buffer || s.flowMode() {
			return true, s.openFlow(c == '{')
		}
	case ']':
		if !s.buffer || s.seqs > 0 {
			s.seqs--
			s.closeFlow()
			return true, nil
		}
	case '}':
		if s.maps > 0 {
			s.maps--
			s.closeFlow()
			return true, nil
		}
	case ',':
		if s.flowMode() {
			s.entry()
			return true, nil
		}
	case '-':
		if s.col == 1 && s.indent == 0 && s.repeat('-') == 3 && (s.i+3 >= len(s.src) || isBlank(s.src[s.i+3])) {
			s.document()
			return true, nil
		}
		if s.buffer && s.up && s.atFirst {
			// A "-" indented under plain text starts folded text.
			s.scalar, s.scalarCol = true, s.col
			s.advance()
			return true, nil
		}
		if !s.buffer && isBlankOrEnd(s.peek(1)) {
			return true, s.indicator(true)
		}
	case '?':
		if !s.buffer && (s.peek(1) == ' ' || s.peek(1) == '\t') {
			return true, s.indicator(false)
		}
	case ':':
		if s.isMapValue() {
			return true, s.mapValue()
		}
	case '|', '>':
		if !s.buffer {
			s.blockScalarHeader()
			return true, nil
		}
	case '!':
		if !s.buffer {
			s.propertyStart()
			s.tag()
			return true, nil
		}
	case '&', '*':
		if !s.buffer {
			if c == '&' {
				s.propertyStart()
			} else {
				s.name, s.pendingName = false, false // an alias ends the name before it
				s.nodeStart()
			}
			s.token()
			s.name, s.pendingName = true, true
			s.advance()
			return true, nil
		}
	case '%':
		if !s.buffer && s.indent == 0 && s.col == 1 {
			s.token()
			s.name = true
			s.advance()
			return true, nil
		}
	case '<':
		// The tokenizer reads on to the end of a run of "<" at each one,
		// looking for a merge key "<<".
		run := s.repeat('<')
		if err := s.charge(run*(run+1)/2, "a run of \"<\" outside quotes: the YAML reader rereads the rest of the run for each one; put the text in quotes"); err != nil {
			return true, err
		}
		for ; run > 2; run-- {
			s.plain(c)
		}
		if run == 2 && s.isMergeKey() {
			// The tokenizer drops plain text before a merge key, which is
			// then the key, at its own column.
			if s.buffer && s.popTo == s.bufCol {
				s.popTo, s.lineCol = s.col, s.col
			}
			s.token()
			s.keyCol, s.lastDelim = s.col, s.col
			s.dashCol, s.property = 0, false
			s.advance()
			s.advance()
			return true, nil
		}
		for ; run > 0; run-- {
			s.plain(c)
		}
		return true, nil
	case '.':
		if s.col == 1 && s.indent == 0 && s.repeat('.') == 3 {
			s.token()
			s.advance()
			s.advance()
			s.advance()
			return true, nil
		}
	}
	return false, nil
}

// scalarChar reads one character of a block scalar's content.
func (s *depthScanner) scalarChar(c byte) {
	switch {
	case isBreak(c):
		s.newline()
		if s.separator() {
			s.scalar = false
		}
	case s.firstChar && c == ' ':
		s.advance()
	case c == '\t':
		s.advance()
	default:
		if s.scalarCol == 0 {
			s.scalarCol = s.col
		}
		if s.scalarCol > 1 {
			s.lastDelim = s.scalarCol - 1
		}
		s.advance()
	}
}

// separator reports whether a document marker (--- or ...) starts at s.i.
func (s *depthScanner) separator() bool {
	rest := s.src[s.i:]
	if len(rest) < 3 || string(rest[:3]) != "---" && string(rest[:3]) != "..." {
		return false
	}
	return len(rest) == 3 || isBlank(rest[3])
}

// comment skips a comment and the line break that ends it.
func (s *depthScanner) comment() {
	if s.buffer {
		s.token()
	}
	for s.i < len(s.src) && !isBreak(s.src[s.i]) {
		s.advance()
	}
	if s.i < len(s.src) {
		s.newline()
	}
}

// quoted skips a quoted string the way the tokenizer reads it, escapes
// included. An unterminated string or a bad escape ends the scan: the
// tokenizer refuses the text, so it is never parsed.
func (s *depthScanner) quoted(q byte) error {
	startLine, startCol := s.line, s.col
	s.advance()
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case isBreak(c):
			s.newline()
			if s.separator() {
				s.i = len(s.src)
				return nil
			}
		case q == '\'' && c == '\'':
			if s.peek(1) == '\'' {
				s.advance()
				s.advance()
				continue
			}
			s.advance()
			s.endQuote(startLine, startCol)
			return nil
		case q == '"' && c == '"':
			s.advance()
			s.endQuote(startLine, startCol)
			return nil
		case q == '"' && c == '\\':
			if !s.escape() {
				s.i = len(s.src)
				return nil
			}
		case q == '"' && c == '\t':
			if err := s.chargeTab(); err != nil {
				return err
			}
			s.advance()
		default:
			s.advance()
		}
	}
	return nil
}

// endQuote records the end of a quoted string that began at line, col. A
// string that spans lines leaves the tokenizer as if at a line start.
func (s *depthScanner) endQuote(line, col int) {
	s.token()
	s.quoteCol = col
	if s.line != line {
		s.firstChar, s.realLine, s.indent = true, false, 0
	}
}

// escape skips a backslash escape in a double-quoted string as the
// tokenizer does, counting characters: \x takes two more, \u four (ten for
// a surrogate pair), \U eight. It reports false for an escape the
// tokenizer refuses.
func (s *depthScanner) escape() bool {
	next := s.peek(1)
	switch next {
	case 0:
		s.advance()
		return true
	case '\n', '\r':
		s.advance()
		s.newline()
		return true
	case 'x':
		if s.runesAfter(3) {
			s.skipRunes(4)
		} else {
			s.skipRunes(2)
		}
		return true
	case 'u':
		if !s.runesAfter(5) {
			return false
		}
		if hi := s.hexAt(2, 4); hi >= 0xD800 && hi <= 0xDBFF {
			if !s.runesAfter(11) || s.peek(6) != '\\' || s.peek(7) != 'u' {
				return false
			}
			if lo := s.hexAt(8, 4); lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			s.skipRunes(12)
			return true
		}
		s.skipRunes(6)
		return true
	case 'U':
		if !s.runesAfter(9) {
			return false
		}
		s.skipRunes(10)
		return true
	case '0', 'a', 'b', 't', 'n', 'v', 'f', 'e', ' ', '"', '/', '\\', 'N', '_', 'L', 'P', '\t':
		s.skipRunes(2)
		return true
	case 'r':
		s.skipRunes(2)
		return true
	}
	return false
}

// runesAfter reports whether at least n characters follow s.i.
func (s *depthScanner) runesAfter(n int) bool {
	j := s.i
	for k := 0; k <= n; k++ {
		if j >= len(s.src) {
			return false
		}
		_, size := utf8.DecodeRune(s.src[j:])
		j += size
	}
	return true
}

// skipRunes moves past n characters; line breaks among them count.
func (s *depthScanner) skipRunes(n int) {
	for ; n > 0 && s.i < len(s.src); n-- {
		if isBreak(s.src[s.i]) {
			s.newline()
			continue
		}
		s.advance()
	}
}

// hexAt reads n hexadecimal digits at s.i+k the way the tokenizer does
// (other characters count as digits of odd value); it only decides
// whether \u starts a surrogate pair.
func (s *depthScanner) hexAt(k, n int) int {
	v := 0
	for j := 0; j < n; j++ {
		b := s.peek(k + j)
		var d int
		switch {
		case b >= 'A' && b <= 'F':
			d = int(b) - 'A' + 10
		case b >= 'a' && b <= 'f':
			d = int(b) - 'a' + 10
		default:
			d = int(b) - '0'
		}
		v += d << (uint(n-j-1) * 4)
	}
	return v
}

// chargeTab adds the work the tokenizer does for a tab in double quotes:
// it reads on to the end of the line.
func (s *depthScanner) chargeTab() error {
	if s.lineEnd <= s.i {
		s.lineEnd = s.i
		for s.lineEnd < len(s.src) && !isBreak(s.src[s.lineEnd]) {
			s.lineEnd++
		}
	}
	return s.charge(s.lineEnd-s.i, "too many tabs in double-quoted text: the YAML reader rereads the rest of the line for each one; write \\t instead")
}

// charge adds n steps of rereading and refuses the text, for the reason
// given, once they pass maxRescan.
func (s *depthScanner) charge(n int, reason string) error {
	s.rescan += n
	if s.rescan > maxRescan {
		return &DepthError{Limit: s.limit, Line: s.line, Column: s.col, Slow: reason}
	}
	return nil
}

// openFlow reads [ or {.
func (s *depthScanner) openFlow(isMap bool) error {
	if !s.flowMode() {
		s.closeBlocks()
	}
	s.nodeStart()
	s.token()
	if isMap {
		s.maps++
	} else {
		s.seqs++
	}
	s.flows = append(s.flows, flowLevel{isMap: isMap, added: 1})
	s.flowDepth++
	if err := s.tooDeep(s.col); err != nil {
		return err
	}
	s.advance()
	return nil
}

// closeFlow reads ] or }; the counters were updated by the caller.
func (s *depthScanner) closeFlow() {
	s.token()
	if n := len(s.flows); n > 0 {
		s.flowDepth -= s.flows[n-1].added
		s.flows = s.flows[:n-1]
	}
	s.advance()
}

// entry reads the , between flow entries: the mappings its ": " opened end.
func (s *depthScanner) entry() {
	s.token()
	s.values++
	if n := len(s.flows); n > 0 {
		f := &s.flows[n-1]
		extra := f.colons
		if f.isMap && extra > 0 {
			extra--
		}
		f.added -= extra
		s.flowDepth -= extra
		f.colons = 0
	}
	s.advance()
}

// document reads a --- marker: the tokenizer forgets its indentation.
func (s *depthScanner) document() {
	s.token()
	s.lastDelim = 0
	s.advance()
	s.advance()
	s.advance()
}

// indicator reads "- " (seq) or "? " (explicit key).
func (s *depthScanner) indicator(seq bool) error {
	s.token()
	s.values++
	s.lastDelim = s.col
	s.keyCol, s.dashCol = 0, s.col
	if s.flowMode() && len(s.flows) > 0 {
		s.flows[len(s.flows)-1].added++
		s.flowDepth++
	} else {
		s.closeBlocks()
		if n := len(s.blocks); s.nested || n == 0 || s.blocks[n-1].col != s.col || s.blocks[n-1].seq != seq {
			s.blocks = append(s.blocks, blockLevel{col: s.col, seq: seq})
		}
		s.blocks[len(s.blocks)-1].explicit = !seq
	}
	s.nested = false
	if err := s.tooDeep(s.col); err != nil {
		return err
	}
	s.advance()
	return nil
}

// isMapValue reports whether the : at s.i is a mapping value indicator for
// the tokenizer.
func (s *depthScanner) isMapValue() bool {
	if s.name {
		return false
	}
	next := s.peek(1)
	if s.maps <= 0 && s.i+1 < len(s.src) && !isBlank(next) {
		return false
	}
	if s.maps > 0 && (next == '/' || s.lastColon) {
		return false
	}
	return true
}

// mapValue reads the ": " after a mapping key.
func (s *depthScanner) mapValue() error {
	kc, keyless := s.keyCol, s.keyCol == 0
	if keyless {
		kc = s.col
	}
	switch {
	case s.buffer:
		s.lastDelim = s.bufCol
	case s.quoteCol != 0:
		s.lastDelim = s.quoteCol
	}
	s.token()
	s.values++
	s.lastColon = true
	s.keyCol, s.dashCol = 0, 0
	if s.flowMode() && len(s.flows) > 0 {
		f := &s.flows[len(s.flows)-1]
		f.colons++
		if !f.isMap || f.colons > 1 {
			f.added++
			s.flowDepth++
		}
	} else {
		s.closeBlocks()
		if kc == s.lineCol && kc != s.afterDash && !s.nested && !keyless {
			// A key at the column of a block sequence ends the sequence.
			for n := len(s.blocks); n > 0 && s.blocks[n-1].col == kc && s.blocks[n-1].seq; n-- {
				s.blocks = s.blocks[:n-1]
			}
		}
		n := len(s.blocks)
		sibling := n > 0 && s.blocks[n-1].col == kc && !s.blocks[n-1].seq
		if keyless && kc == s.lineCol && sibling && !s.blocks[n-1].explicit {
			// A ": " starting a line makes the token before it, perhaps
			// on an earlier line, a key of a nested mapping.
			sibling = false
		}
		if s.nested || !sibling {
			s.blocks = append(s.blocks, blockLevel{col: kc})
		}
		s.blocks[len(s.blocks)-1].explicit = false
	}
	s.nested = false
	if err := s.tooDeep(kc); err != nil {
		return err
	}
	s.advance()
	return nil
}

// blockScalarHeader reads | or > and the rest of its line; the lines after
// it are text until one starts at or left of lastDelim.
func (s *depthScanner) blockScalarHeader() {
	if s.col == 1 {
		s.lastDelim = 1
	}
	s.token()
	s.keyCol = 0
	s.scalar, s.scalarCol = true, 0
	s.advance()
	if d := s.peek(0); d >= '1' && d <= '9' {
		s.scalarCol = s.lastDelim + int(d-'0')
	} else if d == '-' || d == '+' {
		if d := s.peek(1); d >= '1' && d <= '9' {
			s.scalarCol = s.lastDelim + int(d-'0')
		}
	}
	for s.i < len(s.src) && !isBreak(s.src[s.i]) {
		s.advance()
	}
	if s.i < len(s.src) {
		s.newline()
	}
}

// tag skips a tag such as !!str up to the blank, line break or (in flow
// context) comma that ends it.
func (s *depthScanner) tag() {
	s.token()
	s.advance()
	for s.i < len(s.src) {
		c := s.src[s.i]
		if c == ' ' || isBreak(c) || c == ',' && s.flowMode() {
			return
		}
		s.advance()
	}
}
