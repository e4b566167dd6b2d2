"""The bridge adapter: the pure protocol codec and the serial link to the Pico."""
