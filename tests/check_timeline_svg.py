#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks an SVG of vbdctl's timeline: it parses as XML, and holds the lanes
and markers expected.

Usage: check_timeline_svg.py FILE devices=N rules=R1,R2 unseen=N writes=N
       lost=N gap=N [title-has=TEXT]...
rules: the rule of each violation marker, in the order drawn (lane by lane).
A value * takes any number.
title-has: a text that some marker's <title> must hold (an escaped value).
"""
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print("FAIL: %s: %s" % (sys.argv[1], msg))
    sys.exit(1)


def main():
    path = sys.argv[1]
    want = {}
    has = []
    for arg in sys.argv[2:]:
        k, v = arg.split("=", 1)
        if k == "title-has":
            has.append(v)
        else:
            want[k] = v
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        fail("not well-formed XML: %s" % e)
    if root.tag != NS + "svg":
        fail("root is %s, not svg" % root.tag)
    # The legend's samples are not markers.
    legend = set()
    for g in root.iter(NS + "g"):
        if g.get("class") == "legend":
            legend.update(g.iter())
    groups = [g for g in root.iter(NS + "g") if g not in legend]

    def of(cls):
        return [g for g in groups if g.get("class") == cls]

    lanes = of("lane")
    if len(lanes) != 2 * int(want["devices"]):
        fail("%d lanes, want %d" % (len(lanes), 2 * int(want["devices"])))
    sides = [g.get("data-side") for g in lanes]
    if sides != ["backend", "frontend"] * int(want["devices"]):
        fail("lanes %s" % sides)
    viol = [g for lane in lanes for g in lane.iter(NS + "g") if g.get("class") == "violation"]
    rules = [g.get("data-rule") for g in viol]
    wrules = [r for r in want.get("rules", "").split(",") if r]
    if want.get("rules") == "*":
        wrules = rules
    if rules != wrules:
        fail("violation markers %s, want %s" % (rules, wrules))
    titles = []
    for g in viol:
        t = g.find(NS + "title")
        if t is None or not (t.text or "").startswith(g.get("data-rule") + ": "):
            fail("violation marker without its rule in a <title>")
        if g.find(NS + "circle") is None:
            fail("violation marker without its mark")
        titles.append(t.text)
    for k in ("unseen", "writes", "lost", "gap"):
        n = len(of(k))
        if want.get(k) == "*":
            continue
        if n != int(want.get(k, "0")):
            fail("%d %s markers, want %s" % (n, k, want.get(k, "0")))
    if not legend:
        fail("no legend")
    if not [g for lane in lanes for g in lane.iter(NS + "g") if g.get("class") == "segment"]:
        fail("no state segment")
    # Nothing from xenstore became markup, and no control character is left.
    for el in root.iter():
        if el.tag not in (NS + t for t in ("svg", "g", "title", "rect", "text", "circle", "path",
                                           "line", "style")):
            fail("unexpected element %s" % el.tag)
        if any(a.startswith("on") for a in el.attrib):
            fail("an event attribute on %s" % el.tag)
        for s in [el.text or "", el.tail or ""] + list(el.attrib.values()):
            if any(ord(c) < 0x20 and c != "\n" or 0x7f <= ord(c) <= 0x9f for c in s):
                fail("a control character in %r" % s)
    for h in has:
        if not any(h in t for t in titles):
            fail("no marker's title holds %r" % h)
    print("ok: %s: %d lanes, markers %s" % (path, len(lanes), rules))


main()
