"""Assistant lifecycle: versioned Rasa projects, validated, trained, tested and activated per site.

A *site key* says which conversations a version serves: blank is every conversation, a channel
name (`web`, `rest`) every conversation of that channel, any other key the conversations of a
widget embedded with `data-site="<key>"`. A conversation runs on the most specific active one.
"""
