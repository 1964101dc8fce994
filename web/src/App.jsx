import { useEffect } from 'react';
import { useApp, useSession } from './store/context.js';
import LoginPage from './auth/LoginPage.jsx';
import Dashboard from './Dashboard.jsx';

export default function App() {
  const { session } = useApp();
  const state = useSession();

  useEffect(() => {
    if (session.getState().status === 'unknown') session.resume();
  }, [session]);

  if (state.status === 'unknown') return <div className="splash">Loading…</div>;
  if (state.status !== 'authenticated') return <LoginPage error={state.error} />;
  return <Dashboard user={state.user} />;
}
