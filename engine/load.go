package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// loadMessage is one line of the engine's load progress stream.
type loadMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// ReadLoadStream reads the engine's answer to an image load to the end. The
// engine answers 200 before it has read the archive and reports some
// failures only as text in the stream ("Error unpacking image ..."), so
// every message is checked.
func ReadLoadStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	var problems []string
	for {
		var m loadMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading engine load response: %w", err)
		}
		switch {
		case m.ErrorDetail != nil && m.ErrorDetail.Message != "":
			problems = append(problems, oneLine(m.ErrorDetail.Message))
		case m.Error != "":
			problems = append(problems, oneLine(m.Error))
		case isErrorText(m.Stream):
			problems = append(problems, oneLine(m.Stream))
		case isErrorText(m.Status):
			problems = append(problems, oneLine(m.Status))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func isErrorText(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "Error ") || strings.HasPrefix(s, "error ") || strings.HasPrefix(s, "Error:")
}

// oneLine keeps an engine's message to one line, as main prints an error
// on one line after "ERROR: ", and says so when the engine gave no words.
func oneLine(s string) string {
	if s = strings.Join(strings.Fields(s), " "); s == "" {
		return "the engine reported an error without a message"
	}
	return s
}
