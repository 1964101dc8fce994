import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import App from './App.jsx';
import { AppContext } from './store/context.js';
import { createFleetStore } from './store/fleetStore.js';
import { createSession } from './auth/session.js';
import { createApi } from './api/http.js';
import './styles.css';

const store = createFleetStore();
const session = createSession();
const api = createApi({ getToken: session.getToken, onUnauthorized: session.onUnauthorized });
session.attach(api);

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <AppContext.Provider value={{ store, session, api }}>
      <App />
    </AppContext.Provider>
  </StrictMode>,
);
