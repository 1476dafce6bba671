/** Plugins that give tasks typed services: state, snapshots and progress come as their issues land. */
export {}
