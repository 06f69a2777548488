/* A shared object without the tether entry symbol, for the loader's error path. */
int not_a_tether_module(void) { return 42; }
